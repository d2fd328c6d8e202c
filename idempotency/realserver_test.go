package idempotency_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/clipia/apiguard/idempotency"
)

// TestStreamedAndHijackedOverHTTP runs over a real HTTP server, where the
// writer is net/http's: flushing and hijacking must work through the
// capture, and such responses are never stored.
func TestStreamedAndHijackedOverHTTP(t *testing.T) {
	tests := []struct {
		name     string
		handler  handler
		wantBody string
	}{
		{"flushed with http.ResponseController", func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "data: 1\n\n")
			if err := http.NewResponseController(w).Flush(); err != nil {
				return err
			}
			_, _ = io.WriteString(w, "data: 2\n\n")
			return nil
		}, "data: 1\n\ndata: 2\n\n"},
		{"hijacked", func(w http.ResponseWriter, r *http.Request) error {
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return err
			}
			defer conn.Close()
			_, _ = rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nraw ok")
			return rw.Flush()
		}, "raw ok"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			e := newApp(t, idempotency.Config{}, func(w http.ResponseWriter, r *http.Request) error {
				calls.Add(1)
				return tc.handler(w, r)
			})
			// The client can read a hijacked answer before the handler has
			// returned and the claim is released; a second request then
			// (rightly) finds the key in progress. The test waits for the
			// guard to return before it sends the next request.
			done := make(chan struct{}, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer func() { done <- struct{}{} }()
				e.ServeHTTP(w, r)
			}))
			defer srv.Close()
			for i := range 2 {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/generations", strings.NewReader(`{}`))
				req.Header.Set(idempotency.HeaderIdempotencyKey, "stream-key")
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				<-done
				if resp.StatusCode != 200 || string(body) != tc.wantBody {
					t.Fatalf("request %d: got %d %q, want 200 %q", i, resp.StatusCode, body, tc.wantBody)
				}
				if got := resp.Header.Get(idempotency.HeaderIdempotentReplayed); got != "" {
					t.Errorf("request %d: Idempotent-Replayed %q, want none", i, got)
				}
			}
			if got := calls.Load(); got != 2 {
				t.Errorf("handler calls: got %d, want 2 (never stored)", got)
			}
		})
	}
}
