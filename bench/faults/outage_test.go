package faults

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/bench/load"
	idemredis "github.com/clipia/apiguard/idempotency/redisstore"
	rlredis "github.com/clipia/apiguard/ratelimit/redisstore"
	"github.com/redis/go-redis/v9"
)

// phases of an outage, as seen by the load generator. phaseKilling spans
// the kill itself (from just before the signal until the port refuses):
// a request sent or answered then may have met Redis either way, so only
// requests sent and answered wholly before it, or wholly after it, are
// held to the outcomes of their phase.
const (
	phaseUp = iota
	phaseKilling
	phaseDown
	phaseBack
)

var phaseNames = []string{"before", "Redis being killed", "Redis down", "after restart"}

type outageResult struct {
	target     string
	what       string // "keyed POST", "POST", "GET"
	sent, recv int32  // phases at send and receive
	o          load.Outcome
	err        error
	at         time.Time
	lat        time.Duration
}

// TestRedisOutage kills Redis under load and restarts it (empty, on the
// same port), for the reference server process and for the same apiguard
// chain in this process (whose goroutines can be counted). While Redis is
// down: requests with an Idempotency-Key answer 503 and never run; rate
// limits fail open (the servers' setting), so other requests pass without
// RateLimit headers. After the restart everything recovers by itself, and
// no goroutine is left behind.
func TestRedisOutage(t *testing.T) {
	// Every request sent recoveryBound after the restart must succeed.
	// go-redis probes a dead server's address once a second after its
	// dials kept failing, so recovery itself may take about a second; the
	// bound leaves two more for a loaded machine, and the run goes on long
	// enough after the restart for the bound to be checked.
	const recoveryBound = 3 * time.Second
	down, up := 3*time.Second, 2500*time.Millisecond
	workers := 9
	if load.Long() {
		down, up, workers = 5*time.Second, 5*time.Second, 12
	}
	after := max(up, recoveryBound+1500*time.Millisecond)
	rd := load.StartRedis(t)
	srv := load.StartServer(t, "-redis", rd.URL(), "-rate", "100000", "-burst", "100000", "-work-delay", "5ms", "-credits", "1000000000")

	// The same chain in this process, on its own client with short
	// timeouts (as a service would configure it), so that goroutines can
	// be counted.
	// (Timeouts short against go-redis's defaults, yet long enough that a
	// loaded machine does not time out a live Redis before the outage: a
	// killed Redis refuses connections at once anyway.)
	rdb := redis.NewClient(&redis.Options{Addr: rd.Addr(), DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
	t.Cleanup(func() { rdb.Close() })
	rs, err := rlredis.New(rdb, rlredis.Config{Prefix: "inproc:rl:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	is, err := idemredis.New(rdb, idemredis.Config{Prefix: "inproc:idem:"})
	if err != nil {
		t.Fatal(err)
	}
	var runs sync.Map // prompt → runs, in-process
	e, err := load.NewStack(load.StackConfig{Stack: load.Apiguard, RateStore: rs, IdemStore: is, Rate: 100000, Burst: 100000, Work: 5 * time.Millisecond,
		OnGenerate: func(p string) {
			n, _ := runs.LoadOrStore(p, new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
		}})
	if err != nil {
		t.Fatal(err)
	}
	inproc := load.Serve(t, e)
	// And one that fails closed: rate-limited requests answer 503 while
	// the store is down (never 429).
	closed, err := load.NewStack(load.StackConfig{Stack: load.Apiguard, RateStore: rs, IdemStore: is, Rate: 100000, Burst: 100000, Work: 5 * time.Millisecond, FailClosed: true})
	if err != nil {
		t.Fatal(err)
	}
	inprocClosed := load.Serve(t, closed)
	client := load.NewHTTPClient(workers, 20*time.Second)
	targets := []struct{ name, url string }{{"server process", srv.URL}, {"in-process", inproc}, {"in-process, fail closed", inprocClosed}}

	// Warm up, then count.
	for i := 0; i < 50; i++ {
		for _, tg := range targets {
			_, _, _ = load.Do(client, tg.url, load.Req{Method: "GET", Path: "/v1/models", APIKey: "sk_test_full"})
		}
	}
	client.CloseIdleConnections()
	g0 := settleGoroutines(0, 0)
	rss0, th0, _ := load.ProcStatus(srv.PID())

	var (
		phase   atomic.Int32
		stop    atomic.Bool
		mu      sync.Mutex
		results []outageResult
		seq     atomic.Int64
		wg      sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				i := seq.Add(1)
				tg := targets[i%3]
				var req load.Req
				what := []string{"keyed POST", "POST", "GET"}[(i/3)%3]
				switch what {
				case "keyed POST":
					req = load.Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_full",
						Body: load.GenBody("outage "+strconv.FormatInt(i, 10), 1), Header: map[string]string{"Idempotency-Key": "outage-" + strconv.FormatInt(i, 10)}}
				case "POST":
					req = load.Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_full", Body: load.GenBody("unkeyed", 1)}
				default:
					req = load.Req{Method: "GET", Path: "/v1/models", APIKey: "sk_test_full"}
				}
				sent := phase.Load()
				o, lat, err := load.Do(client, tg.url, req)
				r := outageResult{target: tg.name, what: what, sent: sent, recv: phase.Load(), o: o, err: err, at: time.Now(), lat: lat}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(up)
	phase.Store(phaseKilling)
	rd.Kill() // returns once the port refuses connections
	phase.Store(phaseDown)

	time.Sleep(down)
	phase.Store(phaseBack)
	rd.Restart(t)
	restartedAt := time.Now()
	time.Sleep(after)
	stop.Store(true)
	wg.Wait()

	// Recovery: the first keyed 201 after the restart, per target.
	recovered := map[string]time.Duration{}
	counts := map[string]map[string]int{} // target/what/phase → outcome counts
	maxLat := map[string]time.Duration{}
	for _, r := range results {
		if r.err != nil {
			t.Errorf("%s %s (%s): %v", r.target, r.what, phaseNames[r.sent], r.err)
			continue
		}
		ph := phaseNames[r.sent]
		if r.sent != r.recv {
			ph = phaseNames[r.sent] + "→" + phaseNames[r.recv]
		}
		k := r.target + " | " + r.what + " | " + ph
		if counts[k] == nil {
			counts[k] = map[string]int{}
		}
		label := r.o.Key()
		if r.what == "GET" && r.o.Status == http.StatusOK && r.o.Header.Get("RateLimit") == "" {
			label += " (no RateLimit header)"
		}
		counts[k][label]++
		maxLat[k] = max(maxLat[k], r.lat)
		if r.sent == phaseDown && r.recv == phaseDown {
			// Entirely inside the outage.
			switch {
			case r.what == "keyed POST" || r.target == "in-process, fail closed":
				if r.o.Key() != "503 service_unavailable" {
					t.Errorf("%s: %s during the outage got %s, want 503 service_unavailable", r.target, r.what, r.o.Key())
				}
			default:
				if r.o.Status >= 400 {
					t.Errorf("%s: %s during the outage got %s, want it allowed (rate limits fail open)", r.target, r.what, r.o.Key())
				}
			}
		}
		if r.sent == phaseBack && r.what == "keyed POST" && r.o.Status == http.StatusCreated {
			if d := r.at.Sub(restartedAt); recovered[r.target] == 0 || d < recovered[r.target] {
				recovered[r.target] = d
			}
		}
		if r.sent == phaseUp && r.recv == phaseUp && r.o.Status >= 500 {
			t.Errorf("%s: %s before the outage got %s", r.target, r.what, r.o.Key())
		}
	}
	for _, tg := range targets {
		if recovered[tg.name] == 0 {
			t.Errorf("%s: no keyed POST succeeded after Redis came back: no recovery", tg.name)
		}
		// Recovered by itself: every request sent recoveryBound or more
		// after the restart succeeds.
		for _, r := range results {
			sentAt := r.at.Add(-r.lat)
			if r.target == tg.name && sentAt.After(restartedAt.Add(recoveryBound)) && r.err == nil && r.o.Status >= 400 {
				t.Errorf("%s: %s sent %v after the restart still failed: %s", tg.name, r.what, sentAt.Sub(restartedAt), r.o.Key())
				break
			}
		}
	}
	// In process: no keyed generation ran twice, and every keyed 201 ran.
	runs.Range(func(k, v any) bool {
		if n := v.(*atomic.Int32).Load(); n > 1 && k.(string) != "unkeyed" {
			t.Errorf("in-process: %q ran %d times", k, n)
		}
		return true
	})

	// Credits: the server charged exactly the generations it answered 201
	// (all cost 1): nothing ran unseen, nothing ran twice.
	ran := 0
	for _, r := range results {
		if r.target == "server process" && r.err == nil && r.o.Status == http.StatusCreated {
			ran++
		}
	}
	bal, _, err := load.Do(client, srv.URL, load.Req{Method: "GET", Path: "/v1/balance", APIKey: "sk_test_full"})
	if err != nil || bal.Status != http.StatusOK {
		t.Fatalf("balance: %v %s", err, bal.Key())
	}
	var credits struct{ Credits int64 }
	if err := json.Unmarshal(bal.Body, &credits); err != nil {
		t.Fatal(err)
	}
	if spent := 1_000_000_000 - credits.Credits; spent != int64(ran) {
		t.Errorf("server process: %d credits spent, want %d (one per 201)", spent, ran)
	}

	client.CloseIdleConnections()
	g1 := settleGoroutines(g0, 5)
	rss1, th1, _ := load.ProcStatus(srv.PID())
	if g1 > g0+5 {
		t.Errorf("in-process goroutines: %d before the outage, %d after recovery: a leak", g0, g1)
	}
	srv.CheckNoRace(t)

	var b fmtBuilder
	b.f("### Redis outage under load (%d workers; Redis down %v, then restarted empty)\n\n", workers, down)
	b.f("Recovery (first keyed 201 after the restart): server process %v, in-process %v, in-process fail-closed %v. Server process credits spent = its %d answers 201.\n",
		recovered["server process"].Round(time.Millisecond), recovered["in-process"].Round(time.Millisecond), recovered["in-process, fail closed"].Round(time.Millisecond), ran)
	b.f("In-process goroutines %d before, %d after recovery. Server process: OS threads %d → %d, RSS %.1f → %.1f MB (it has no pprof endpoint; goroutines were counted in process).\n\n", g0, g1, th0, th1, float64(rss0)/1024, float64(rss1)/1024)
	b.f("| target | request | phase (sent→answered) | outcomes | max latency |\n|---|---|---|---|---:|\n")
	for _, k := range sortedKeys(counts) {
		b.f("| %s | %s | %v |\n", k, joinCounts(counts[k]), maxLat[k].Round(time.Millisecond))
	}
	load.WriteResult(t, "outage.md", b.String())
}

// settleGoroutines waits up to 20 s for the goroutine count to drop to
// want+slack and returns it (it returns as soon as it has; the long
// deadline only matters on a loaded machine); want 0: just lets things
// settle for half a second.
func settleGoroutines(want, slack int) int {
	start := time.Now()
	deadline := start.Add(20 * time.Second)
	for {
		runtime.GC()
		n := runtime.NumGoroutine()
		if (want > 0 && n <= want+slack) || time.Now().After(deadline) {
			return n
		}
		time.Sleep(100 * time.Millisecond)
		if want == 0 && time.Since(start) > 500*time.Millisecond {
			return runtime.NumGoroutine()
		}
	}
}

type fmtBuilder struct{ s []byte }

func (b *fmtBuilder) f(format string, a ...any) { b.s = fmt.Appendf(b.s, format, a...) }
func (b *fmtBuilder) String() string            { return string(b.s) }
