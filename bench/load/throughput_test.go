package load

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clipia/apiguard/idempotency"
	idemredis "github.com/clipia/apiguard/idempotency/redisstore"
	"github.com/clipia/apiguard/ratelimit"
	rlredis "github.com/clipia/apiguard/ratelimit/redisstore"
	"github.com/redis/go-redis/v9"
)

type cell struct {
	stack, route string
	st           Stats
	trips, evals float64 // per request; -1: no Redis
	bad          int     // responses other than the route's success
}

func cellTime() (d time.Duration, workers, rounds int) {
	switch {
	case Long():
		return 3 * time.Second, 8, 3
	case RaceEnabled():
		return 150 * time.Millisecond, 4, 1
	default:
		return 400 * time.Millisecond, 8, 1
	}
}

// TestThroughput measures requests/s and p50/p99 latency of GET /v1/models
// and POST /v1/generations (no work in the handler) through (a) a bare Echo
// handler, (b) Echo's own middlewares, (c) apiguard with memory stores and
// (d) apiguard with Redis stores, all in this process over loopback HTTP
// with the same client and concurrency; plus the reference server process
// itself. It prints a markdown table. For (d) it counts Redis round trips
// (go-redis hook: one per command sent alone or per pipeline) and commands
// (INFO commandstats) per request.
func TestThroughput(t *testing.T) {
	d, workers, rounds := cellTime()
	rd := StartRedis(t)
	hook := &RoundTrips{}
	rdb := redis.NewClient(&redis.Options{Addr: rd.Addr(), PoolSize: 32})
	rdb.AddHook(hook)
	t.Cleanup(func() { rdb.Close() })

	type target struct {
		name  string
		url   string
		redis bool
	}
	var targets []target
	for _, s := range []struct {
		name  string
		stack Stack
		redis bool
	}{
		{"(a) bare Echo", Bare, false},
		{"(b) Echo middlewares", EchoMiddlewares, false},
		{"(c) apiguard, memory", Apiguard, false},
		{"(d) apiguard, Redis", Apiguard, true},
	} {
		cfg := StackConfig{Stack: s.stack}
		if s.redis {
			rs, err := rlredis.New(rdb, rlredis.Config{Prefix: "bench:rl:"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { rs.Close() })
			is, err := idemredis.New(rdb, idemredis.Config{Prefix: "bench:idem:"})
			if err != nil {
				t.Fatal(err)
			}
			cfg.RateStore, cfg.IdemStore = rs, is
		} else if s.stack == Apiguard {
			ms := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{})
			t.Cleanup(func() { ms.Close() })
			is := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
			t.Cleanup(func() { is.Close() })
			cfg.RateStore, cfg.IdemStore = ms, is
		}
		e, err := NewStack(cfg)
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, target{s.name, Serve(t, e), s.redis})
	}
	srvMem := StartServer(t, "-rate", "1000000000", "-burst", "1000000000", "-work-delay", "0", "-credits", "9000000000000000000")
	targets = append(targets, target{"reference server process, memory", srvMem.URL, false})
	srvRedis := StartServer(t, "-rate", "1000000000", "-burst", "1000000000", "-work-delay", "0", "-credits", "9000000000000000000", "-redis", rd.URL())
	targets = append(targets, target{"reference server process, Redis", srvRedis.URL, true})

	body := []byte(`{"model":"clipia-fast","prompt":"a cat riding a bicycle","duration":5}`)
	routes := []struct {
		name   string
		status int
		req    func(i int) Req
		apig   bool // only for apiguard stacks
	}{
		{"GET /v1/models", http.StatusOK, func(int) Req {
			return Req{Method: "GET", Path: "/v1/models", APIKey: "sk_test_full"}
		}, false},
		{"POST /v1/generations", http.StatusCreated, func(int) Req {
			return Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_full", Body: body}
		}, false},
		{"POST /v1/generations + Idempotency-Key", http.StatusCreated, nil, true},
	}
	client := NewHTTPClient(workers, 10*time.Second)
	var cells []cell
	run := 0
	for round := 0; round < rounds; round++ {
		for _, rt := range routes {
			for _, tg := range targets {
				if rt.apig && !strings.Contains(tg.name, "apiguard") && !strings.Contains(tg.name, "reference") {
					continue
				}
				run++
				prefix := "k" + strconv.Itoa(run) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
				mk := rt.req
				if mk == nil {
					mk = func(i int) Req {
						return Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_full", Body: body,
							Header: map[string]string{"Idempotency-Key": prefix + strconv.Itoa(i)}}
					}
				}
				var (
					badMu sync.Mutex
					bad   []string
				)
				fire := func(i int) time.Duration {
					status, _, b, lat, err := Send(client, tg.url, mk(i))
					if err != nil || status != rt.status {
						badMu.Lock()
						defer badMu.Unlock()
						if len(bad) < 5 {
							bad = append(bad, fmt.Sprintf("%v %d %s", err, status, tail(string(b), 200)))
						} else {
							bad = append(bad, "")
						}
					}
					return lat
				}
				t0 := time.Now()
				Loop(workers, 200, d, func(i int) time.Duration { return fire(1_000_000 + i) }) // warm-up
				trips0, _ := hook.Count()
				calls0, _ := CommandCalls(rd.Addr())
				bad = bad[:0]
				st := Loop(workers, 0, d, fire)
				c := cell{stack: tg.name, route: rt.name, st: st, trips: -1, evals: -1, bad: len(bad)}
				if tg.redis {
					calls1, _ := CommandCalls(rd.Addr())
					// Commands run inside a script count in commandstats
					// too: count the scripts.
					n := calls1["evalsha"] - calls0["evalsha"] + calls1["eval"] - calls0["eval"]
					c.evals = float64(n) / float64(st.Count)
					if !strings.Contains(tg.name, "process") {
						trips1, _ := hook.Count()
						c.trips = float64(trips1-trips0) / float64(st.Count)
					}
				}
				if len(bad) > 0 {
					t.Errorf("%s %s: %d of %d responses were not %d: %v", tg.name, rt.name, len(bad), st.Count, rt.status, bad[:min(5, len(bad))])
				}
				cells = append(cells, c)
				t.Logf("%s %s: %v", tg.name, rt.name, time.Since(t0))
			}
		}
	}
	cells = medians(cells)
	srvMem.CheckNoRace(t)
	srvRedis.CheckNoRace(t)
	WriteResult(t, "throughput.md", formatThroughput(cells, d, workers, rounds))
}

// medians keeps, for each (stack, route), the round with the median
// requests/s, in the order of first appearance.
func medians(cells []cell) []cell {
	var order []string
	by := map[string][]cell{}
	for _, c := range cells {
		k := c.route + "|" + c.stack
		if by[k] == nil {
			order = append(order, k)
		}
		by[k] = append(by[k], c)
	}
	out := make([]cell, 0, len(order))
	for _, k := range order {
		cs := by[k]
		slices.SortFunc(cs, func(a, b cell) int { return cmp.Compare(a.st.RPS(), b.st.RPS()) })
		out = append(out, cs[len(cs)/2])
	}
	return out
}

func formatThroughput(cells []cell, d time.Duration, workers, rounds int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Throughput (%d closed-loop clients, %v per cell, median of %d rounds, loopback, GOMAXPROCS %s)\n\n", workers, d, rounds, gomaxprocs())
	b.WriteString("| route | stack | req/s | p50 | p99 | req/s vs (a) | Redis round trips/req | Redis scripts run/req |\n|---|---|---:|---:|---:|---:|---:|---:|\n")
	base := map[string]float64{}
	for _, c := range cells {
		if strings.HasPrefix(c.stack, "(a)") {
			base[c.route] = c.st.RPS()
		}
	}
	for _, c := range cells {
		rel := "—"
		if a := base[c.route]; a > 0 {
			rel = fmt.Sprintf("%.2f", c.st.RPS()/a)
		}
		f := func(x float64) string {
			if x < 0 {
				return "—"
			}
			return fmt.Sprintf("%.2f", x)
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f | %v | %v | %s | %s | %s |\n", c.route, c.stack, c.st.RPS(),
			c.st.Quantile(0.5).Round(time.Microsecond), c.st.Quantile(0.99).Round(time.Microsecond), rel, f(c.trips), f(c.evals))
	}
	return b.String()
}
