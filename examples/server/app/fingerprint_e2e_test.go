package app

import (
	"net/http"
	"testing"
)

// TestFingerprintNeverSharesAReplay checks, through the real server, that a
// second request the server reads differently from the first never gets the
// first one's stored answer under the same Idempotency-Key: it is refused
// with 409 idempotency_key_reuse, whether the difference is in how the body
// is to be read (its media type) or in how a number is spelled.
func TestFingerprintNeverSharesAReplay(t *testing.T) {
	s := startServer(t, "-work-delay", "1ms", "-credits", "1000")
	const valid = `{"model":"clipia-fast","prompt":"a cat","duration":5}`
	withType := func(body, key, contentType string) req {
		r := post("sk_test_full", body, key)
		r.header["Content-Type"] = contentType
		return r
	}
	tests := []struct {
		name          string
		first, second req
		firstStatus   int
	}{
		{
			name:        "other charset",
			first:       post("sk_test_full", valid, "fp-charset"),
			second:      withType(valid, "fp-charset", "application/json; charset=iso-8859-1"),
			firstStatus: http.StatusCreated,
		},
		{
			name:        "no Content-Type",
			first:       post("sk_test_full", valid, "fp-no-type"),
			second:      withType(valid, "fp-no-type", "\x00"),
			firstStatus: http.StatusCreated,
		},
		{
			name:        "other +json media type",
			first:       post("sk_test_full", valid, "fp-merge-patch"),
			second:      withType(valid, "fp-merge-patch", "application/merge-patch+json"),
			firstStatus: http.StatusCreated,
		},
		{
			name:        "5.0 refused, then 5",
			first:       post("sk_test_full", `{"model":"clipia-fast","prompt":"a dog","duration":5.0}`, "fp-5.0"),
			second:      post("sk_test_full", `{"model":"clipia-fast","prompt":"a dog","duration":5}`, "fp-5.0"),
			firstStatus: http.StatusBadRequest,
		},
		{
			name:        "10 accepted, then 1e1",
			first:       post("sk_test_full", `{"model":"clipia-fast","prompt":"a bird","duration":10}`, "fp-1e1"),
			second:      post("sk_test_full", `{"model":"clipia-fast","prompt":"a bird","duration":1e1}`, "fp-1e1"),
			firstStatus: http.StatusCreated,
		},
		{
			// encoding/json matches keys case-insensitively and the last
			// one wins: the first asks for 6 seconds, the second for 5.
			name:        "case-variant keys in the other order",
			first:       post("sk_test_full", `{"model":"clipia-fast","prompt":"a fox","duration":5,"Duration":6}`, "fp-fold"),
			second:      post("sk_test_full", `{"model":"clipia-fast","prompt":"a fox","Duration":6,"duration":5}`, "fp-fold"),
			firstStatus: http.StatusCreated,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := do(t, s.url, tt.first)
			if first.status != tt.firstStatus {
				t.Fatalf("first: status %d %s, want %d", first.status, first.body, tt.firstStatus)
			}
			second := do(t, s.url, tt.second)
			if got := second.header.Get("Idempotent-Replayed"); got != "" {
				t.Errorf("second: Idempotent-Replayed = %q with status %d %s; a changed request must never be replayed",
					got, second.status, second.body)
			}
			checkError(t, second, errorWant{row: rowKeyReuse})
		})
	}

	// The same request again, with a media type the server reads the same
	// way, is still a replay.
	t.Run("charset utf-8 is the same request", func(t *testing.T) {
		first := do(t, s.url, post("sk_test_full", valid, "fp-utf8"))
		if first.status != http.StatusCreated {
			t.Fatalf("first: status %d %s, want 201", first.status, first.body)
		}
		for _, ct := range []string{"application/json; charset=utf-8", "Application/JSON; Charset=\"UTF-8\""} {
			again := do(t, s.url, withType(valid, "fp-utf8", ct))
			if again.status != http.StatusCreated || again.header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("Content-Type %q: status %d, Idempotent-Replayed %q (%s); want the 201 replayed",
					ct, again.status, again.header.Get("Idempotent-Replayed"), again.body)
			}
		}
	})
}
