package faults

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/clipia/apiguard/bench/load"
)

// TestSIGTERMDrainsInFlight sends SIGTERM while generations are running:
// they all finish with 201, new connections are refused while they still
// run, and the process exits 0 after the last one.
//
// The signal goes once the server has reserved the credits of all five
// (their handlers run), and the work lasts 3 s, so the drain certainly
// starts while they run; the test then waits until a new connection is
// refused, and checks that none of the five had finished by then.
func TestSIGTERMDrainsInFlight(t *testing.T) {
	const work = 3 * time.Second
	srv := load.StartServer(t, "-work-delay", work.String(), "-rate", "1000", "-burst", "1000")
	client := load.NewHTTPClient(8, 20*time.Second)
	before := balance(t, client, srv, "sk_test_readonly")

	const inflight = 5
	var wg sync.WaitGroup
	type res struct {
		o   load.Outcome
		err error
		at  time.Time
	}
	results := make([]res, inflight)
	var finished atomic.Int32
	var cost int64
	start := time.Now()
	for i := range inflight {
		req := load.Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_full",
			Body: load.GenBody("drain "+strconv.Itoa(i), 2)}
		if i%2 == 0 {
			req.Header = map[string]string{"Idempotency-Key": "drain-" + strconv.Itoa(i)}
		}
		cost += 2 // clipia-fast: 1 credit per second of a 2 s generation
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, _, err := load.Do(client, srv.URL, req)
			results[i] = res{o, err, time.Now()}
			finished.Add(1)
		}()
	}
	// All five are in the handler's work: the tenant's balance (read with
	// another of its keys, which has its own rate-limit bucket) shows their
	// credits reserved.
	for deadline := time.Now().Add(20 * time.Second); balance(t, client, srv, "sk_test_readonly") != before-cost; {
		if time.Now().After(deadline) {
			t.Fatalf("the %d generations were not all running within 20s", inflight)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := srv.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()

	// A new connection is refused while the old ones drain. Until the
	// server has handled the signal, one may still be served, or, dialled
	// just as the listener closes, be reset; every attempt dials anew (no
	// keep-alive).
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
	var err error
	for deadline := time.Now().Add(20 * time.Second); ; {
		_, _, err = load.Do(fresh, srv.URL, load.Req{Method: "GET", Path: "/healthz"})
		if errors.Is(err, syscall.ECONNREFUSED) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	refusedAfter := time.Since(signalled)
	done := finished.Load()
	if err == nil {
		t.Errorf("new requests were still served %v after SIGTERM; want the connection refused", refusedAfter)
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("a new request after SIGTERM failed with %v, want connection refused", err)
	} else if done != 0 {
		t.Errorf("a new connection was refused only after %d of the %d in-flight requests had finished (%v after the signal); want it refused while they drain", done, inflight, refusedAfter)
	}

	code, err := srv.Wait(10 * time.Second)
	exited := time.Now()
	wg.Wait()
	if err != nil || code != 0 {
		t.Errorf("exit code %d (%v), want 0", code, err)
	}
	for i, r := range results {
		if r.err != nil || r.o.Status != http.StatusCreated {
			t.Errorf("in-flight request %d: %v %s, want 201", i, r.err, r.o.Key())
		}
		if r.at.Sub(start) < work {
			t.Errorf("in-flight request %d answered after %v, before its work of %v", i, r.at.Sub(start), work)
		}
	}
	if d := exited.Sub(start); d < work {
		t.Errorf("process exited after %v, before the in-flight work (%v) finished", d, work)
	}
	srv.CheckNoRace(t)
	load.WriteResult(t, "sigterm.md", fmt.Sprintf("SIGTERM with %d generations in flight (-work-delay %v): all %d answered 201, new connections were refused %v after the signal, while they ran; exit code %d after %v.\n",
		inflight, work, inflight, refusedAfter.Round(time.Millisecond), code, exited.Sub(start).Round(time.Millisecond)))
}
