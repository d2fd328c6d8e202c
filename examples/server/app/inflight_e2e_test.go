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
//
// The first generation (prompt "hold") runs until the test releases it, so
// what the test sees does not depend on how fast the machine is.
func TestMaxInFlight(t *testing.T) {
	srv := startHeld(t, func(cfg *Config) { cfg.MaxInFlight = 1 })
	const body = `{"model":"clipia-fast","prompt":"a cat","duration":1}`
	var wg sync.WaitGroup
	var first resp
	wg.Add(1)
	go func() {
		defer wg.Done()
		first = do(t, srv.url, post("sk_test_full", `{"model":"clipia-fast","prompt":"hold","duration":1}`, ""))
	}()
	srv.waitStarted(t)

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
	// The slot is checked before the scope: acme's read-only key is told
	// 429 while the slot is held (403 once it is free, below).
	if r := do(t, srv.url, post("sk_test_readonly", body, "")); r.status != http.StatusTooManyRequests {
		t.Errorf("read-only key while the slot is held: %d %s, want 429", r.status, r.body)
	}
	// Another tenant has its own slot.
	if other := do(t, srv.url, post("sk_test_other", body, "")); other.status != http.StatusCreated {
		t.Errorf("another tenant: %d %s, want 201", other.status, other.body)
	}

	srv.release()
	wg.Wait()
	if first.status != http.StatusCreated {
		t.Fatalf("first: %d %s, want 201", first.status, first.body)
	}
	if again := do(t, srv.url, post("sk_test_full", body, "")); again.status != http.StatusCreated {
		t.Errorf("after the first ended: %d %s, want 201", again.status, again.body)
	}
	if r := do(t, srv.url, post("sk_test_readonly", body, "")); r.status != http.StatusForbidden {
		t.Errorf("read-only key once the slot is free: %d %s, want 403", r.status, r.body)
	}
}
