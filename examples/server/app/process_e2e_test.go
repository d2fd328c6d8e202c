package app

import (
	"bytes"
	"math"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clipia/apiguard/internal/redistest"
)

// These tests run the built binary: what a person gets from go run.

// TestSignalDrains sends SIGTERM (and SIGINT) while a generation runs: the
// listener closes at once, the in-flight request still completes with 201,
// and the process exits 0.
func TestSignalDrains(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			// 3 s of work: the signal below must reach the server while the
			// generation still runs, with seconds of slack on a loaded machine.
			p := startProc(t, "-work-delay", "3s")
			// Two identical requests: one runs for 3 s, the other is refused
			// at once as in progress, which proves the first is in flight.
			results := make(chan resp, 2)
			for range 2 {
				go func() {
					r, err := send(p.url, post("sk_test_full", okBody, "drain"))
					if err != nil {
						t.Errorf("request: %v", err)
					}
					results <- r
				}()
			}
			if r := <-results; r.status != http.StatusConflict {
				t.Fatalf("duplicate: status %d %s, want 409 request_in_progress", r.status, r.body)
			}
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the shutdown to start", func() bool { return strings.Contains(p.log.String(), "shutting down") })

			// The log line comes just before the listener closes: a new
			// connection may still be served for a moment, then none is,
			// while the in-flight request still runs.
			fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
			deadline := time.Now().Add(10 * time.Second)
			for {
				res, err := fresh.Get(p.url + "/healthz")
				if err != nil {
					if len(results) != 0 {
						t.Errorf("new connections were refused only after the in-flight request had finished")
					}
					break
				}
				res.Body.Close()
				if time.Now().After(deadline) {
					t.Errorf("a new connection during the drain got %d, want it refused", res.StatusCode)
					break
				}
				time.Sleep(10 * time.Millisecond)
			}

			r := <-results
			if r.status != http.StatusCreated {
				t.Errorf("in-flight request: status %d %s, want 201", r.status, r.body)
			}
			if err := p.wait(t, 10*time.Second); err != nil {
				t.Errorf("exit: %v, want status 0\nlog:\n%s", err, p.log)
			}
			// The log proves the order: shutting down, then the 201, then stopped.
			var order []string
			for _, l := range p.log.lines(t) {
				switch msg := l.str("msg"); {
				case msg == "shutting down: draining in-flight requests", msg == "stopped":
					order = append(order, msg)
				case msg == "request" && l["status"] == float64(http.StatusCreated):
					order = append(order, "201")
				}
			}
			if got, want := strings.Join(order, " | "), "shutting down: draining in-flight requests | 201 | stopped"; got != want {
				t.Errorf("log order %q, want %q", got, want)
			}
		})
	}
}

// TestHelpExitsZero checks that -h prints every flag and exits 0, and that a
// bad flag exits non-zero.
func TestHelpExitsZero(t *testing.T) {
	bin := serverBinary(t)
	out, err := exec.Command(bin, "-h").CombinedOutput()
	if err != nil {
		t.Errorf("-h: %v, want exit 0\n%s", err, out)
	}
	for _, f := range []string{"-addr", "-redis", "-rate", "-burst", "-work-delay", "-idempotency-ttl", "-lock-ttl", "-credits",
		"-read-header-timeout", "-read-timeout", "-write-timeout", "-idle-timeout", "WRITE_TIMEOUT", "IDLE_TIMEOUT",
		"-postgres", "DATABASE_URL", "-framework", "FRAMEWORK", "chi or gin", "-max-in-flight"} {
		if !bytes.Contains(out, []byte(f)) {
			t.Errorf("-h output does not mention %s:\n%s", f, out)
		}
	}
	cmd := exec.Command(bin, "-burst", "0")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if out, err := cmd.CombinedOutput(); err == nil || !bytes.Contains(out, []byte("-burst")) {
		t.Errorf("-burst 0: %v, output %q; want a non-zero exit naming -burst", err, out)
	}
}

// TestTwoProcessesShareRedis runs two server processes on one Redis: a
// duplicate sent to the second process while the first runs it is refused as
// in progress, and once the first finishes it is replayed by the second
// without running or charging again; a key's rate limit is one bucket across
// both. Credits and generations stay per process.
func TestTwoProcessesShareRedis(t *testing.T) {
	rs := redistest.Start(t)
	// -work-delay 3s: the two duplicates below are sent at once, and the
	// second must arrive while the first still runs, however loaded the
	// machine is. -rate 0.1: a token comes back every 10 s, so the bucket
	// does not refill between the requests of the rate limit subtest.
	args := []string{"-redis", "redis://" + rs.Addr + "/0", "-rate", "0.1", "-burst", "5", "-work-delay", "3s"}
	procs := []*proc{startProc(t, args...), startProc(t, args...)}
	for i, p := range procs {
		if !strings.Contains(p.log.String(), `"store":"redis"`) {
			t.Fatalf("process %d does not use Redis:\n%s", i, p.log)
		}
	}

	t.Run("rate limit is shared", func(t *testing.T) {
		wantRemaining := []string{"4", "3", "2", "1", "0"}
		start := time.Now()
		for i, want := range wantRemaining {
			got := do(t, procs[i%2].url, req{path: "/v1/models", key: "sk_test_other"})
			if got.status != http.StatusOK {
				t.Fatalf("request %d on process %d: %d %s, want 200", i+1, i%2, got.status, got.body)
			}
			if rl := got.header.Get("RateLimit"); !strings.HasPrefix(rl, `"default";r=`+want+";") {
				t.Errorf("request %d on process %d: RateLimit %q, want r=%s", i+1, i%2, rl, want)
			}
		}
		got := do(t, procs[len(wantRemaining)%2].url, req{path: "/v1/models", key: "sk_test_other"})
		// The next token comes 10 s after the first request (Redis's
		// clock, which the test cannot stop): Retry-After is 10 when the
		// six requests took under a second, rounded up from less after a
		// slower run.
		wantRetry := "10"
		if ra, err := strconv.Atoi(got.header.Get("Retry-After")); err == nil && ra < 10 &&
			float64(ra) >= math.Ceil(10-time.Since(start).Seconds()) {
			wantRetry = strconv.Itoa(ra)
		}
		checkError(t, got, errorWant{row: rowRateLimited, retryAfter: wantRetry})
	})

	t.Run("duplicate is replayed by the other process", func(t *testing.T) {
		type result struct {
			proc int
			r    resp
		}
		results := make(chan result, 2)
		for i, p := range procs {
			go func() {
				r, err := send(p.url, post("sk_test_full", okBody, "cross-process"))
				if err != nil {
					t.Errorf("process %d: %v", i, err)
				}
				results <- result{i, r}
			}()
		}
		loser := <-results
		// Retry-After is the in-progress wait (1s), but never earlier than
		// the RateLimit t on the same response (draft -10 section 6): here
		// the next token, up to 10s away at -rate 0.1.
		rl := loser.r.header.Get("RateLimit")
		wantRetry := rl[strings.LastIndex(rl, ";t=")+3:]
		if n, err := strconv.Atoi(wantRetry); err != nil || n < 1 || n > 10 {
			t.Fatalf("in progress: RateLimit %q, want a t of 1 to 10", rl)
		}
		checkError(t, loser.r, errorWant{row: rowInProgress, retryAfter: wantRetry})
		winner := <-results
		if winner.r.status != http.StatusCreated || winner.r.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("process %d: status %d, Idempotent-Replayed %q; want 201 run", winner.proc, winner.r.status, winner.r.header.Get("Idempotent-Replayed"))
		}
		// The winner answers after its first commit attempt, or after half
		// a second when Redis is slow (a loaded machine): until the commit
		// lands, a duplicate is still told 409 request_in_progress.
		// Retried once a second (the burst of 5 leaves two retries).
		replay := do(t, procs[loser.proc].url, post("sk_test_full", okBody, "cross-process"))
		for deadline := time.Now().Add(15 * time.Second); replay.status == http.StatusConflict &&
			envelope(t, replay, false).Code == "request_in_progress" && time.Now().Before(deadline); {
			time.Sleep(time.Second)
			replay = do(t, procs[loser.proc].url, post("sk_test_full", okBody, "cross-process"))
		}
		if replay.status != http.StatusCreated || replay.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry on process %d: status %d, Idempotent-Replayed %q; want 201 replayed",
				loser.proc, replay.status, replay.header.Get("Idempotent-Replayed"))
		}
		if !bytes.Equal(replay.body, winner.r.body) {
			t.Errorf("replayed body %s, want %s", replay.body, winner.r.body)
		}

		// Credits and generations live in each process: the winner charged
		// its own ledger once; the replaying process charged nothing and does
		// not know the generation.
		if got, want := balanceOf(t, procs[winner.proc].url, "sk_test_readonly"), int64(1000-5); got != want {
			t.Errorf("balance on the running process = %d, want %d", got, want)
		}
		if got, want := balanceOf(t, procs[loser.proc].url, "sk_test_readonly"), int64(1000); got != want {
			t.Errorf("balance on the replaying process = %d, want %d", got, want)
		}
		g := decode[generationBody](t, winner.r)
		if got := do(t, procs[loser.proc].url, req{path: "/v1/generations/" + g.ID, key: "sk_test_readonly"}); got.status != http.StatusNotFound {
			t.Errorf("GET the generation on the other process: %d, want 404 (generations are per process)", got.status)
		}
	})
}
