package client

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		in   string
		want time.Duration
	}{
		{"empty", "", 0},
		{"seconds", "2", 2 * time.Second},
		{"padded", " 7 ", 7 * time.Second},
		{"zero", "0", 0},
		{"fraction rounds up to the nanosecond", "1.5", 1500 * time.Millisecond},
		{"negative", "-1", 0},
		{"garbage", "soon", 0},
		{"number then garbage", "5s", 0},
		{"NaN", "NaN", 0},
		{"huge is capped", "99999999999999999999", maxRetryAfter},
		{"HTTP date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"RFC 850 date", now.Add(time.Hour).Format(time.RFC850), time.Hour},
		{"date in the past", now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"date now", now.Format(http.TimeFormat), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseRetryAfter(tc.in, now); got != tc.want {
				t.Errorf("parseRetryAfter(%q): got %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
