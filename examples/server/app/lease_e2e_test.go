package app

import (
	"net/http"
	"testing"
	"time"
)

// TestSlowGenerationRunsOnce reproduces a handler slower than the
// idempotency lease (LockTTL 2s; the generation, prompt "hold", runs until
// the test releases it): a duplicate sent 3 s after the first request was
// seen running, when the first lease would have run out, must get 409
// request_in_progress with Retry-After, not run the generation a second
// time; once the first is done, the duplicate replays it, and the tenant
// is charged once.
//
// The first generation is held, not timed, so it is certainly still
// running when the duplicate arrives however loaded the machine is; the
// lease (renewed every LockTTL/3) is the only real clock, and its renewals
// have more than a second of slack.
func TestSlowGenerationRunsOnce(t *testing.T) {
	const lease = 2 * time.Second
	s := startHeld(t, func(cfg *Config) { cfg.LockTTL, cfg.Credits = lease, 100 })
	gen := post("sk_test_full", `{"model":"clipia-fast","prompt":"hold","duration":4}`, "slow-lease-1")
	type answer struct {
		r   resp
		err error
	}
	firstc := make(chan answer, 1)
	go func() {
		r, err := send(s.url, gen)
		firstc <- answer{r, err}
	}()
	s.waitStarted(t)            // the key is claimed and the generation runs
	time.Sleep(lease + lease/2) // past the first lease, while the generation runs

	dup := do(t, s.url, gen)
	if dup.status != http.StatusConflict {
		t.Fatalf("duplicate while the generation runs: status %d %s, want 409", dup.status, dup.body)
	}
	if e := envelope(t, dup, false); e.Code != "request_in_progress" {
		t.Errorf("duplicate: code %q, want request_in_progress", e.Code)
	}
	if dup.header.Get("Retry-After") == "" {
		t.Error("409 request_in_progress without Retry-After")
	}

	s.release()
	a := <-firstc
	if a.err != nil || a.r.status != http.StatusCreated {
		t.Fatalf("first: %v, status %d %s, want 201", a.err, a.r.status, a.r.body)
	}
	first := decode[generationBody](t, a.r)
	replay := do(t, s.url, gen)
	if replay.status != http.StatusCreated || replay.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("after the generation: status %d Idempotent-Replayed %q, want a 201 replay", replay.status, replay.header.Get("Idempotent-Replayed"))
	}
	if got := decode[generationBody](t, replay); got.ID != first.ID {
		t.Errorf("replayed generation %s, want the first one %s", got.ID, first.ID)
	}
	if got, want := balanceOf(t, s.url, "sk_test_full"), 100-first.Cost; got != want {
		t.Errorf("balance = %d, want %d (charged once for %d)", got, want, first.Cost)
	}
}
