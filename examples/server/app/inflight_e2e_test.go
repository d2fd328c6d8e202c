package app

import (
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestMaxInFlight: with -max-in-flight 1, a second generation of the same
// tenant while the first runs answers 429 rate_limit_exceeded with
// Retry-After and the concurrency quota in RateLimit-Policy; another
// tenant is not affected, and once the first ends the tenant may go on.
func TestMaxInFlight(t *testing.T) {
	srv := startServer(t, "-max-in-flight", "1", "-work-delay", "1500ms")
	const body = `{"model":"clipia-fast","prompt":"a cat","duration":1}`

	var wg sync.WaitGroup
	var first resp
	wg.Add(1)
	go func() { defer wg.Done(); first = do(t, srv.url, post("sk_test_full", body, "")) }()
	// The first generation is running once acme's slot is taken: poll with
	// acme's read-only key, which the slot check sees before its scope
	// (403 while the slot is free, at once; 429 while it is held).
	waitFor(t, "the first generation to hold acme's slot", func() bool {
		return do(t, srv.url, post("sk_test_readonly", body, "")).status == http.StatusTooManyRequests
	})
	second := do(t, srv.url, post("sk_test_full", body, ""))
	if second.status != http.StatusTooManyRequests {
		t.Fatalf("second: %d %s, want 429", second.status, second.body)
	}
	e := envelope(t, second, false)
	if e.Code != "rate_limit_exceeded" || second.header.Get("Retry-After") != "1" {
		t.Errorf("second: code %q Retry-After %q, want rate_limit_exceeded and 1", e.Code, second.header.Get("Retry-After"))
	}
	if p := strings.Join(second.header.Values("RateLimit-Policy"), ", "); !strings.Contains(p, `"generations";q=1;qu="concurrent-requests"`) {
		t.Errorf("RateLimit-Policy %q, want the generations concurrency quota", p)
	}
	// Another tenant has its own slot.
	if other := do(t, srv.url, post("sk_test_other", body, "")); other.status != http.StatusCreated {
		t.Errorf("another tenant: %d %s, want 201", other.status, other.body)
	}
	wg.Wait()
	if first.status != http.StatusCreated {
		t.Fatalf("first: %d %s, want 201", first.status, first.body)
	}
	if again := do(t, srv.url, post("sk_test_full", body, "")); again.status != http.StatusCreated {
		t.Errorf("after the first ended: %d %s, want 201", again.status, again.body)
	}
}
