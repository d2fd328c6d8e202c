// Package storetest is the behaviour suite every [idempotency.Store] must
// pass. Both built-in stores run it in their tests; run it against your own
// store, or against redisstore on a Redis Cluster:
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) idempotency.Store { return newMyStore(t) })
//	}
//
// The factory is called once per case and must return an empty store (or
// one whose keys nobody else uses, e.g. with a unique key prefix): the suite
// never flushes or lists keys, so it runs on a shared server or a cluster.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/idempotency"
)

// Lease and retention used by the expiry cases, and the unit of their
// waits. Real-clock runs sleep about five seconds in all.
const (
	shortLease     = 150 * time.Millisecond
	shortRetention = 200 * time.Millisecond
	long           = time.Minute
)

// Run runs the suite against stores made by newStore. Cases that need time
// to pass sleep; stores with an injectable clock can use [RunWithClock].
func Run(t *testing.T, newStore func(t *testing.T) idempotency.Store) {
	t.Helper()
	RunWithClock(t, func(t *testing.T) (idempotency.Store, func(time.Duration)) {
		return newStore(t), time.Sleep
	})
}

// RunWithClock runs the suite against stores made by newStore, which also
// returns how to let d pass for that store: advancing its fake clock, or
// sleeping.
func RunWithClock(t *testing.T, newStore func(t *testing.T) (idempotency.Store, func(d time.Duration))) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, advance := newStore(t)
			tc.run(t, &env{s: s, advance: advance, ctx: context.Background()})
		})
	}
}

type env struct {
	s       idempotency.Store
	advance func(time.Duration)
	ctx     context.Context
}

func (e *env) claim(t *testing.T, key, fp string, lease time.Duration) idempotency.ClaimResult {
	t.Helper()
	r, err := e.s.Claim(e.ctx, key, fp, lease)
	if err != nil {
		t.Fatalf("Claim(%q): %v", key, err)
	}
	return r
}

func (e *env) mustClaim(t *testing.T, key, fp string, lease time.Duration) string {
	t.Helper()
	r := e.claim(t, key, fp, lease)
	if !r.Claimed {
		t.Fatalf("Claim(%q): got not claimed (existing %v record), want claimed", key, r.Record.State)
	}
	if r.Token == "" {
		t.Fatalf("Claim(%q): got empty token", key)
	}
	return r.Token
}

func (e *env) get(t *testing.T, key string) (idempotency.Record, bool) {
	t.Helper()
	r, ok, err := e.s.Get(e.ctx, key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return r, ok
}

func sampleResponse() idempotency.Response {
	return idempotency.Response{
		Status: http.StatusCreated,
		Header: http.Header{
			"Content-Type": {"application/json; charset=utf-8"},
			"Location":     {"/v1/generations/gen_1"},
			"X-Multi":      {"a", "b", ""},
		},
		Body: []byte("{\"id\":\"gen_1\"}\n\x00\xff binary tail"),
	}
}

func sameResponse(t *testing.T, got *idempotency.Response, want idempotency.Response) {
	t.Helper()
	if got == nil {
		t.Fatalf("got no response, want status %d", want.Status)
	}
	if got.Status != want.Status {
		t.Errorf("status: got %d, want %d", got.Status, want.Status)
	}
	if !bytes.Equal(got.Body, want.Body) {
		t.Errorf("body: got %q, want %q", got.Body, want.Body)
	}
	if len(got.Header) != len(want.Header) {
		t.Errorf("headers: got %v, want %v", got.Header, want.Header)
	}
	for k, wv := range want.Header {
		gv := got.Header[k]
		if len(gv) != len(wv) {
			t.Errorf("header %s: got %q, want %q", k, gv, wv)
			continue
		}
		for i := range wv {
			if gv[i] != wv[i] {
				t.Errorf("header %s: got %q, want %q", k, gv, wv)
			}
		}
	}
}

var cases = []struct {
	name string
	run  func(t *testing.T, e *env)
}{
	{"get of an unknown key finds nothing", func(t *testing.T, e *env) {
		if _, ok := e.get(t, "nope"); ok {
			t.Fatal("Get: got a record, want none")
		}
	}},
	{"first claim owns an in-progress record", func(t *testing.T, e *env) {
		tok := e.mustClaim(t, "k", "fp1", long)
		rec, ok := e.get(t, "k")
		if !ok {
			t.Fatal("Get after claim: got none, want the record")
		}
		if rec.State != idempotency.StateInProgress || rec.Fingerprint != "fp1" || rec.Token != tok || rec.Response != nil {
			t.Errorf("Get: got %+v, want in progress, fp1, token %q, no response", rec, tok)
		}
		if rec.ExpiresAt.IsZero() {
			t.Error("ExpiresAt: got zero, want the end of the lease")
		}
	}},
	{"second claim sees the in-progress record", func(t *testing.T, e *env) {
		e.mustClaim(t, "k", "fp1", long)
		r := e.claim(t, "k", "fp1", long)
		if r.Claimed || r.Token != "" {
			t.Fatalf("second Claim: got claimed=%v token=%q, want not claimed", r.Claimed, r.Token)
		}
		if r.Record.State != idempotency.StateInProgress || r.Record.Fingerprint != "fp1" {
			t.Errorf("second Claim record: got %v %q, want in_progress fp1", r.Record.State, r.Record.Fingerprint)
		}
	}},
	{"claim with another fingerprint returns the first fingerprint", func(t *testing.T, e *env) {
		e.mustClaim(t, "k", "fp1", long)
		r := e.claim(t, "k", "fp2", long)
		if r.Claimed {
			t.Fatal("Claim with other fingerprint: got claimed, want the existing record")
		}
		if r.Record.Fingerprint != "fp1" {
			t.Errorf("fingerprint: got %q, want fp1", r.Record.Fingerprint)
		}
	}},
	{"commit stores the response byte for byte", func(t *testing.T, e *env) {
		const lease = 10 * time.Second
		tok := e.mustClaim(t, "k", "fp1", lease)
		claimed, _ := e.get(t, "k")
		want := sampleResponse()
		if err := e.s.Commit(e.ctx, "k", tok, want, long); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		r := e.claim(t, "k", "fp1", long)
		if r.Claimed {
			t.Fatal("Claim after commit: got claimed, want the completed record")
		}
		if r.Record.State != idempotency.StateCompleted || r.Record.Fingerprint != "fp1" {
			t.Errorf("record: got %v %q, want completed fp1", r.Record.State, r.Record.Fingerprint)
		}
		sameResponse(t, r.Record.Response, want)
		rec, ok := e.get(t, "k")
		if !ok {
			t.Fatal("Get after commit: got none")
		}
		sameResponse(t, rec.Response, want)
		// The deadline moved from the end of the lease to the end of the
		// retention (times are the store's own, so compare differences).
		if d := rec.ExpiresAt.Sub(claimed.ExpiresAt); d < long-lease-5*time.Second || d > long-lease+5*time.Second {
			t.Errorf("ExpiresAt moved by %v on commit, want about %v", d, long-lease)
		}
	}},
	{"empty and large bodies survive", func(t *testing.T, e *env) {
		big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
		for i, body := range [][]byte{{}, big} {
			key := []string{"empty", "big"}[i]
			tok := e.mustClaim(t, key, "fp", long)
			want := idempotency.Response{Status: 200, Body: body}
			if err := e.s.Commit(e.ctx, key, tok, want, long); err != nil {
				t.Fatalf("Commit %s: %v", key, err)
			}
			rec, _ := e.get(t, key)
			sameResponse(t, rec.Response, want)
		}
	}},
	{"returned records are copies", func(t *testing.T, e *env) {
		tok := e.mustClaim(t, "k", "fp", long)
		resp := sampleResponse()
		if err := e.s.Commit(e.ctx, "k", tok, resp, long); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		resp.Body[0] = 'X'
		resp.Header.Set("Location", "/changed")
		rec, _ := e.get(t, "k")
		rec.Response.Body[1] = 'Y'
		rec.Response.Header.Set("Location", "/changed")
		again, _ := e.get(t, "k")
		sameResponse(t, again.Response, sampleResponse())
	}},
	{"commit with a wrong token is refused", func(t *testing.T, e *env) {
		e.mustClaim(t, "k", "fp", long)
		err := e.s.Commit(e.ctx, "k", "not-the-token", sampleResponse(), long)
		if !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("Commit with wrong token: got %v, want ErrLeaseLost", err)
		}
		if rec, _ := e.get(t, "k"); rec.State != idempotency.StateInProgress {
			t.Errorf("record after refused commit: got %v, want in_progress", rec.State)
		}
	}},
	{"commit of an unknown key is refused", func(t *testing.T, e *env) {
		err := e.s.Commit(e.ctx, "k", "tok", sampleResponse(), long)
		if !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("Commit: got %v, want ErrLeaseLost", err)
		}
		if _, ok := e.get(t, "k"); ok {
			t.Error("Get: got a record, want none")
		}
	}},
	{"second commit is refused and keeps the first response", func(t *testing.T, e *env) {
		tok := e.mustClaim(t, "k", "fp", long)
		first := sampleResponse()
		if err := e.s.Commit(e.ctx, "k", tok, first, long); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		err := e.s.Commit(e.ctx, "k", tok, idempotency.Response{Status: 200, Body: []byte("other")}, long)
		if !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("second Commit: got %v, want ErrLeaseLost", err)
		}
		rec, _ := e.get(t, "k")
		sameResponse(t, rec.Response, first)
	}},
	{"release deletes, so the key can be claimed again", func(t *testing.T, e *env) {
		tok := e.mustClaim(t, "k", "fp", long)
		if err := e.s.Release(e.ctx, "k", tok); err != nil {
			t.Fatalf("Release: %v", err)
		}
		if _, ok := e.get(t, "k"); ok {
			t.Fatal("Get after release: got a record, want none")
		}
		tok2 := e.mustClaim(t, "k", "fp-other", long)
		if tok2 == tok {
			t.Errorf("token after re-claim: got the old token %q again, want a new one", tok)
		}
		if err := e.s.Commit(e.ctx, "k", tok, sampleResponse(), long); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Errorf("Commit with the released token: got %v, want ErrLeaseLost", err)
		}
	}},
	{"release with a wrong token is refused", func(t *testing.T, e *env) {
		e.mustClaim(t, "k", "fp", long)
		if err := e.s.Release(e.ctx, "k", "not-the-token"); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("Release: got %v, want ErrLeaseLost", err)
		}
		if _, ok := e.get(t, "k"); !ok {
			t.Error("Get: got none, want the record still in progress")
		}
	}},
	{"release of a completed record is refused", func(t *testing.T, e *env) {
		tok := e.mustClaim(t, "k", "fp", long)
		if err := e.s.Commit(e.ctx, "k", tok, sampleResponse(), long); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if err := e.s.Release(e.ctx, "k", tok); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("Release after commit: got %v, want ErrLeaseLost", err)
		}
		if rec, _ := e.get(t, "k"); rec.State != idempotency.StateCompleted {
			t.Errorf("state: got %v, want completed", rec.State)
		}
	}},
	{"keys are independent, whatever their characters", func(t *testing.T, e *env) {
		keys := []string{"a", "a ", "A", "{tag}a", "{tag}b", "x|y%z", "tenant:acme|POST|/v1/x|k", "é"}
		for _, k := range keys {
			e.mustClaim(t, k, "fp", long)
		}
		for _, k := range keys {
			if rec, ok := e.get(t, k); !ok || rec.State != idempotency.StateInProgress {
				t.Errorf("Get(%q): got ok=%v state=%v, want in_progress", k, ok, rec.State)
			}
		}
	}},
	{"an expired lease can be claimed again and fences the old owner", func(t *testing.T, e *env) {
		old := e.mustClaim(t, "k", "fp", shortLease)
		e.advance(2 * shortLease)
		if _, ok := e.get(t, "k"); ok {
			t.Error("Get after the lease: got a record, want none")
		}
		fresh := e.mustClaim(t, "k", "fp", long)
		if fresh == old {
			t.Fatalf("token: got the old token %q again", old)
		}
		if err := e.s.Commit(e.ctx, "k", old, idempotency.Response{Status: 200, Body: []byte("stale")}, long); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Errorf("stale Commit: got %v, want ErrLeaseLost", err)
		}
		if err := e.s.Release(e.ctx, "k", old); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Errorf("stale Release: got %v, want ErrLeaseLost", err)
		}
		want := sampleResponse()
		if err := e.s.Commit(e.ctx, "k", fresh, want, long); err != nil {
			t.Fatalf("Commit by the new owner: %v", err)
		}
		rec, _ := e.get(t, "k")
		sameResponse(t, rec.Response, want)
	}},
	{"a commit after the lease is refused even without a new claim", func(t *testing.T, e *env) {
		tok := e.mustClaim(t, "k", "fp", shortLease)
		e.advance(2 * shortLease)
		if err := e.s.Commit(e.ctx, "k", tok, sampleResponse(), long); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("late Commit: got %v, want ErrLeaseLost", err)
		}
		if _, ok := e.get(t, "k"); ok {
			t.Error("Get: got a record, want none")
		}
	}},
	{"a completed record expires after the retention", func(t *testing.T, e *env) {
		tok := e.mustClaim(t, "k", "fp", long)
		// The retention starts at the store's commit, after start. A Get
		// that returns less than the retention after start is before its
		// end by any clock; a stall of a loaded machine can make it later,
		// when it proves nothing (real-clock runs only: a fake clock does
		// not move by itself).
		start := time.Now()
		if err := e.s.Commit(e.ctx, "k", tok, sampleResponse(), shortRetention); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if _, ok := e.get(t, "k"); !ok && time.Since(start) < shortRetention-10*time.Millisecond {
			t.Fatal("Get before the retention ends: got none")
		}
		e.advance(2 * shortRetention)
		if _, ok := e.get(t, "k"); ok {
			t.Fatal("Get after the retention: got a record, want none")
		}
		e.mustClaim(t, "k", "fp2", long)
	}},
	{"retention is counted from the commit, not the claim", func(t *testing.T, e *env) {
		// The commit must land within the lease: about a second of slack
		// against a loaded machine's stalls.
		const lease = 8 * shortLease
		tok := e.mustClaim(t, "k", "fp", lease)
		e.advance(shortLease)
		if err := e.s.Commit(e.ctx, "k", tok, sampleResponse(), long); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		e.advance(lease)
		if rec, ok := e.get(t, "k"); !ok || rec.State != idempotency.StateCompleted {
			t.Fatalf("Get after the lease would have ended: got ok=%v %v, want completed", ok, rec.State)
		}
	}},
	{"renew keeps an in-progress record past its first lease", func(t *testing.T, e *env) {
		// Generous leases against slow, loaded machines: each renewal, and
		// the calls after the last one, have over a second of slack.
		const lease, every, renewals = 10 * shortLease, 2 * shortLease, 6
		tok := e.mustClaim(t, "k", "fp", lease)
		for range renewals {
			e.advance(every)
			if err := e.s.Renew(e.ctx, "k", tok, lease); err != nil {
				t.Fatalf("Renew: %v", err)
			}
		}
		// renewals × every (12 short leases) have passed: past the first
		// lease (10), not the renewed one.
		rec, ok := e.get(t, "k")
		if !ok || rec.State != idempotency.StateInProgress || rec.Token != tok {
			t.Fatalf("Get after renewals: got ok=%v %+v, want in progress with token %q", ok, rec, tok)
		}
		if r := e.claim(t, "k", "fp", long); r.Claimed {
			t.Fatal("Claim of a renewed record: got claimed, want the in-progress record")
		}
		if err := e.s.Commit(e.ctx, "k", tok, sampleResponse(), long); err != nil {
			t.Fatalf("Commit after renewals: %v", err)
		}
	}},
	{"renew sets the end of the lease from now", func(t *testing.T, e *env) {
		tok := e.mustClaim(t, "k", "fp", long)
		before, _ := e.get(t, "k")
		if err := e.s.Renew(e.ctx, "k", tok, 2*long); err != nil {
			t.Fatalf("Renew: %v", err)
		}
		after, _ := e.get(t, "k")
		if d := after.ExpiresAt.Sub(before.ExpiresAt); d < long-5*time.Second || d > long+5*time.Second {
			t.Errorf("ExpiresAt moved by %v on renew, want about %v", d, long)
		}
	}},
	{"an unrenewed lease still expires", func(t *testing.T, e *env) {
		tok := e.mustClaim(t, "k", "fp", shortLease)
		e.advance(2 * shortLease)
		if err := e.s.Renew(e.ctx, "k", tok, long); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("Renew after the lease: got %v, want ErrLeaseLost", err)
		}
		if _, ok := e.get(t, "k"); ok {
			t.Error("Get: got a record, want none (a late renew must not bring it back)")
		}
	}},
	{"renew is refused for a wrong token, an unknown key and a completed record", func(t *testing.T, e *env) {
		tok := e.mustClaim(t, "k", "fp", long)
		if err := e.s.Renew(e.ctx, "k", "not-the-token", long); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Errorf("Renew with a wrong token: got %v, want ErrLeaseLost", err)
		}
		if err := e.s.Renew(e.ctx, "other", tok, long); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Errorf("Renew of an unknown key: got %v, want ErrLeaseLost", err)
		}
		if _, ok := e.get(t, "other"); ok {
			t.Error("Get(other): got a record, want none (renew must not create one)")
		}
		want := sampleResponse()
		if err := e.s.Commit(e.ctx, "k", tok, want, long); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if err := e.s.Renew(e.ctx, "k", tok, shortLease); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Errorf("Renew of a completed record: got %v, want ErrLeaseLost", err)
		}
		e.advance(2 * shortLease)
		rec, ok := e.get(t, "k")
		if !ok || rec.State != idempotency.StateCompleted {
			t.Fatalf("Get: got ok=%v %v, want the completed record untouched", ok, rec.State)
		}
		sameResponse(t, rec.Response, want)
	}},
	{"renew after a re-claim is refused and keeps the new owner's record", func(t *testing.T, e *env) {
		old := e.mustClaim(t, "k", "fp", shortLease)
		e.advance(2 * shortLease)
		fresh := e.mustClaim(t, "k", "fp", long)
		if err := e.s.Renew(e.ctx, "k", old, long); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("stale Renew: got %v, want ErrLeaseLost", err)
		}
		if rec, _ := e.get(t, "k"); rec.Token != fresh {
			t.Errorf("token after stale renew: got %q, want the new owner's %q", rec.Token, fresh)
		}
	}},
	{"concurrent claims: exactly one wins", func(t *testing.T, e *env) {
		const n = 50
		var wins atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				r, err := e.s.Claim(e.ctx, "k", "fp", long)
				if err != nil {
					errs <- err
					return
				}
				if r.Claimed {
					wins.Add(1)
				} else if r.Record.State != idempotency.StateInProgress {
					errs <- errors.New("loser saw state " + r.Record.State.String())
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if got := wins.Load(); got != 1 {
			t.Fatalf("winners: got %d, want 1", got)
		}
	}},
	{"cancelled context fails the call", func(t *testing.T, e *env) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := e.s.Claim(ctx, "k", "fp", long); err == nil {
			t.Fatal("Claim with cancelled ctx: got nil error")
		}
		if _, ok := e.get(t, "k"); ok {
			t.Error("Get: got a record after a cancelled claim, want none")
		}
	}},
}
