package load

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestLimitBatch measures GET /v1/models end to end on four reference
// server processes over loopback: rate limits in memory, in Redis (one
// script per decision), in Redis with -limit-batch 20 (local token
// batches), and in Redis with -limit-batch 1000, the control: the same
// code with a grant per 1,000 requests instead of 20, so that what the
// -limit-batch 20 server spends beyond it is the cost of its grants (the
// round trips and the requests waiting for them), not of the local
// decisions. Each server is measured with one caller (every request with
// one API key, as a hot client is) and with four (the reference server's
// four keys that may list models, in turn): a batch belongs to one
// caller, so with one caller every request that comes while its grant is
// on its way waits for it, and with four the others' requests go on.
//
// The rounds interleave the cells, each round in another order; each cell
// gets the same closed-loop load, and the table reports the median
// round's requests/s, its ratio to the memory server's with the same
// callers in the same round, the CPU per request of the server process,
// of the load generator (this test process) and of Redis, the server's
// context switches per request (all its threads; a thread that sleeps and
// is woken again, as when every request waits for one grant, costs one)
// and the Redis scripts run per request (INFO commandstats). The column
// "memory's CPU/req ÷ this" (server, load generator and Redis) is what the
// req/s ratio tends to when the shared machine is CPU-bound: it moves far
// less with the other load on the machine than req/s does. The rate limit
// is set high (10^9/s) so that every request is a 200 and the limiter's
// decision is what differs.
//
// Each round also measures what one isolated Redis round trip costs on
// this machine (PING after PING on one go-redis connection, nothing else
// running), in this process and in Redis; the second table sets it beside
// what one grant costs, the -limit-batch 20 cell's CPU beyond the
// control's per script run, in each process.
func TestLimitBatch(t *testing.T) {
	d, workers, rounds := 300*time.Millisecond, 8, 1
	switch {
	case Long():
		d, rounds = 3*time.Second, 5
	case RaceEnabled():
		d = 150 * time.Millisecond
	}
	rd := StartRedis(t)
	common := []string{"-rate", "1000000000", "-burst", "1000000000", "-work-delay", "0"}
	servers := []struct {
		name  string
		redis bool
		batch string // -limit-batch; empty: none
		srv   *Server
	}{
		{name: "memory"},
		{name: "Redis", redis: true},
		{name: "Redis, -limit-batch 20", redis: true, batch: "20"},
		{name: "Redis, -limit-batch 1000 (control)", redis: true, batch: "1000"},
	}
	for i := range servers {
		flags := append([]string(nil), common...)
		if servers[i].redis {
			flags = append(flags, "-redis", rd.URL())
		}
		if servers[i].batch != "" {
			flags = append(flags, "-limit-batch", servers[i].batch)
		}
		servers[i].srv = StartServer(t, flags...)
	}
	callers := []struct {
		name string
		keys []string
	}{
		{"1", []string{"sk_test_full"}},
		{"4", []string{"sk_test_full", "sk_test_other", "sk_test_readonly", "sk_test_nocredits"}},
	}
	client := NewHTTPClient(workers, 10*time.Second)
	type result struct {
		rps, ratio, cpuNs, clientNs, redisNs, switches, scripts, cpuRatio float64
	}
	type cell struct{ c, s int } // callers, server
	var cells []cell
	for c := range callers {
		for s := range servers {
			cells = append(cells, cell{c, s})
		}
	}
	res := make(map[cell][]result)
	var floorsSelf, floorsRedis []float64
	for round := range rounds {
		// Each round in another order, so that no cell always follows
		// the same one (or always comes first after a quiet moment).
		cur := make(map[cell]result)
		for k := range cells {
			ce := cells[(k+round)%len(cells)]
			s, keys := servers[ce.s], callers[ce.c].keys
			fire := func(i int) time.Duration {
				req := Req{Method: "GET", Path: "/v1/models", APIKey: keys[i%len(keys)]}
				status, _, b, lat, err := Send(client, s.srv.URL, req)
				if err != nil || status != http.StatusOK {
					t.Errorf("%s: %v %d %s", s.name, err, status, tail(string(b), 200))
				}
				return lat
			}
			Loop(workers, 200, d, fire) // warm-up
			cpu0, ccpu0, sw0 := procCPU(t, s.srv.PID()), selfCPU(), switches(s.srv.PID())
			rcpu0, calls0 := redisCPU(t, rd.Addr()), scripts(t, rd.Addr())
			st := Loop(workers, 0, d, fire)
			r := result{rps: st.RPS()}
			n := float64(st.Count)
			r.cpuNs = float64(procCPU(t, s.srv.PID())-cpu0) / n
			r.clientNs = float64(selfCPU()-ccpu0) / n
			r.switches = float64(switches(s.srv.PID())-sw0) / n
			// Redis's CPU counts for every server: the idle Redis of the
			// memory server's cell is the baseline of the others.
			r.redisNs = float64(redisCPU(t, rd.Addr())-rcpu0) / n
			if s.redis {
				r.scripts = float64(scripts(t, rd.Addr())-calls0) / n
			}
			cur[ce] = r
		}
		for _, ce := range cells {
			r, mem := cur[ce], cur[cell{ce.c, 0}]
			r.ratio = r.rps / mem.rps
			r.cpuRatio = (mem.cpuNs + mem.clientNs + mem.redisNs) / (r.cpuNs + r.clientNs + r.redisNs)
			res[ce] = append(res[ce], r)
			t.Logf("round %d, %s caller(s), %s: %.0f req/s (%.2f × memory), cpu-ns/req: server %.0f, load generator %.0f, Redis %.0f (%.2f × memory's CPU); %.2f server context switches/req, %.3f scripts/req",
				round, callers[ce.c].name, servers[ce.s].name, r.rps, r.ratio, r.cpuNs, r.clientNs, r.redisNs, r.cpuRatio, r.switches, r.scripts)
		}
		own, red := roundTrip(t, rd.Addr())
		floorsSelf, floorsRedis = append(floorsSelf, own), append(floorsRedis, red)
		t.Logf("round %d: an isolated Redis round trip costs %.1f µs of CPU (%.1f here, %.1f in Redis)", round, (own+red)/1e3, own/1e3, red/1e3)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "### GET /v1/models, rate limits in memory vs Redis vs Redis with -limit-batch 20 (%d closed-loop clients, %v per cell, median of %d interleaved rounds, loopback, GOMAXPROCS %s)\n\n", workers, d, rounds, gomaxprocs())
	b.WriteString("| callers | server | req/s | vs memory (same callers, same round) | server CPU/req | load generator CPU/req | Redis CPU/req | server context switches/req | Redis scripts/req | memory's CPU/req ÷ this |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	med := make(map[cell]result) // each column's own median over the rounds
	for _, ce := range cells {
		rs := res[ce]
		col := func(f func(result) float64) float64 {
			v := make([]float64, len(rs))
			for j, r := range rs {
				v[j] = f(r)
			}
			return median(v)
		}
		m := result{
			rps: col(func(r result) float64 { return r.rps }), ratio: col(func(r result) float64 { return r.ratio }),
			cpuNs: col(func(r result) float64 { return r.cpuNs }), clientNs: col(func(r result) float64 { return r.clientNs }),
			redisNs: col(func(r result) float64 { return r.redisNs }), switches: col(func(r result) float64 { return r.switches }),
			scripts: col(func(r result) float64 { return r.scripts }), cpuRatio: col(func(r result) float64 { return r.cpuRatio }),
		}
		med[ce] = m
		s := servers[ce.s]
		scriptsCol := "—"
		if s.redis {
			scriptsCol = fmt.Sprintf("%.3f", m.scripts)
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f | %.2f | %.1f µs | %.1f µs | %.1f µs | %.2f | %s | %.2f |\n", callers[ce.c].name, s.name,
			m.rps, m.ratio, m.cpuNs/1e3, m.clientNs/1e3, m.redisNs/1e3, m.switches, scriptsCol, m.cpuRatio)
	}
	// What a grant costs: the -limit-batch 20 cell beyond the control's
	// (the same code, a grant per 1,000 requests), per script run.
	b.WriteString("\nWhat one grant costs (the -limit-batch 20 cell beyond the control, per script run), against one isolated Redis round trip (PING after PING on one go-redis connection, nothing else running; median of the rounds):\n\n")
	b.WriteString("| | server | load generator | Redis | in all |\n|---|---:|---:|---:|---:|\n")
	for c := range callers {
		g, ctl := med[cell{c, 2}], med[cell{c, 3}]
		per := func(x, y float64) float64 { return (x - y) / (g.scripts - ctl.scripts) / 1e3 }
		sv, lg, rd := per(g.cpuNs, ctl.cpuNs), per(g.clientNs, ctl.clientNs), per(g.redisNs, ctl.redisNs)
		fmt.Fprintf(&b, "| a grant, %s caller(s) | %.0f µs | %.0f µs | %.0f µs | %.0f µs |\n", callers[c].name, sv, lg, rd, sv+lg+rd)
	}
	own, red := median(floorsSelf)/1e3, median(floorsRedis)/1e3
	fmt.Fprintf(&b, "| an isolated round trip | %.0f µs (the client) | — | %.0f µs | %.0f µs |\n", own, red, own+red)
	WriteResult(t, "limitbatch.md", b.String())
}

// median returns the median of v (the upper one of an even count); v is
// sorted in place.
func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

// roundTrip returns the CPU, in ns, one isolated Redis round trip costs in
// this process and in Redis (PING after PING on one go-redis connection;
// the caller runs nothing else meanwhile).
func roundTrip(t *testing.T, addr string) (own, red float64) {
	const n = 2000
	c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1})
	defer c.Close()
	ctx := context.Background()
	for range 100 { // connect, warm up
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	own0, red0 := selfCPU(), redisCPU(t, addr)
	for range n {
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	own = float64(selfCPU()-own0) / n
	red = float64(redisCPU(t, addr)-red0) / n
	return own, red
}

// procCPU returns the CPU time (user + system) of process pid so far, in
// ns, from /proc (0 where there is none).
func procCPU(t *testing.T, pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// Fields 14 and 15 of stat (utime, stime), counted from the state (3).
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return (ut + st) * int64(time.Second) / 100 // USER_HZ
}

// switches returns the context switches (voluntary and involuntary) of
// every thread of process pid so far, from /proc (0 where there is none).
func switches(pid int) int64 {
	dir := "/proc/" + strconv.Itoa(pid) + "/task/"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, task := range tasks {
		b, err := os.ReadFile(dir + task.Name() + "/status")
		if err != nil {
			continue // the thread ended
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && (k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches") {
				c, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += c
			}
		}
	}
	return n
}

// redisCPU returns Redis's CPU time so far (INFO cpu), in ns.
func redisCPU(t *testing.T, addr string) int64 {
	m, err := Info(addr, "cpu")
	if err != nil {
		t.Fatal(err)
	}
	sys, _ := strconv.ParseFloat(m["used_cpu_sys"], 64)
	user, _ := strconv.ParseFloat(m["used_cpu_user"], 64)
	return int64((sys + user) * 1e9)
}

// scripts returns the scripts Redis ran so far (EVALSHA and EVAL).
func scripts(t *testing.T, addr string) int64 {
	m, err := CommandCalls(addr)
	if err != nil {
		t.Fatal(err)
	}
	return m["evalsha"] + m["eval"]
}
