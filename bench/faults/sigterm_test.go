package faults

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clipia/apiguard/bench/load"
)

// TestSIGTERMDrainsInFlight sends SIGTERM while generations are running:
// they all finish with 201, new connections are refused at once, and the
// process exits 0 after the last one.
func TestSIGTERMDrainsInFlight(t *testing.T) {
	const work = 1500 * time.Millisecond
	srv := load.StartServer(t, "-work-delay", work.String())
	client := load.NewHTTPClient(8, 10*time.Second)

	const inflight = 5
	var wg sync.WaitGroup
	type res struct {
		o   load.Outcome
		err error
		at  time.Time
	}
	results := make([]res, inflight)
	start := time.Now()
	for i := range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := load.Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_full",
				Body: load.GenBody("drain "+strconv.Itoa(i), 2)}
			if i%2 == 0 {
				req.Header = map[string]string{"Idempotency-Key": "drain-" + strconv.Itoa(i)}
			}
			o, _, err := load.Do(client, srv.URL, req)
			results[i] = res{o, err, time.Now()}
		}()
	}
	time.Sleep(300 * time.Millisecond) // all five are in the handler's work
	if err := srv.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)

	// A new connection is refused while the old ones drain.
	fresh := load.NewHTTPClient(1, 2*time.Second)
	_, _, err := load.Do(fresh, srv.URL, load.Req{Method: "GET", Path: "/healthz"})
	if err == nil {
		t.Errorf("a new request after SIGTERM was served; want the connection refused")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("a new request after SIGTERM failed with %v, want connection refused", err)
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
	load.WriteResult(t, "sigterm.md", fmt.Sprintf("SIGTERM with %d generations in flight (-work-delay %v): all %d answered 201, a new connection 200 ms after the signal was refused, exit code %d after %v.\n",
		inflight, work, inflight, code, exited.Sub(start).Round(time.Millisecond)))
}
