package load

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLimitBatch measures GET /v1/models end to end on four reference
// server processes over loopback: rate limits in memory, in Redis (one
// script per decision), in Redis with -limit-batch 20 (local token
// batches), and in Redis with -limit-batch 1000, the control: the same
// code with a grant per 1,000 requests instead of 20, so that what the
// -limit-batch 20 server spends beyond it is the cost of its grants (the
// round trips and the requests waiting for them), not of the local
// decisions. The rounds interleave the servers, each round in another
// order; each round gives each server the same closed-loop load, and the
// table reports the median round's requests/s, its ratio to the memory
// server's in the same round, the CPU per request of the server process,
// of the load generator (this test process) and of Redis, the server's
// context switches per request (all its threads; a thread that sleeps
// and is woken again, as when every request waits for one grant, costs
// one) and the Redis scripts run per request (INFO commandstats). The
// last column, memory's CPU per request (server, load generator and
// Redis) over this server's in the same round, is what the req/s ratio
// tends to when the shared machine is CPU-bound: it moves far less with
// the other load on the machine than req/s does. The rate limit is set
// high (10^9/s) so that every request is a 200 and the limiter's
// decision is what differs; the caller is one API key, as a hot client
// is.
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
	client := NewHTTPClient(workers, 10*time.Second)
	req := Req{Method: "GET", Path: "/v1/models", APIKey: "sk_test_full"}
	type result struct {
		rps, ratio, cpuNs, clientNs, redisNs, switches, scripts, cpuRatio float64
	}
	res := make([][]result, len(servers))
	self := os.Getpid()
	for round := range rounds {
		// Each round in another order, so that no server always follows
		// the same one (or always comes first after a quiet moment).
		cur := make([]result, len(servers))
		for k := range servers {
			i := (k + round) % len(servers)
			s := servers[i]
			fire := func(int) time.Duration {
				status, _, b, lat, err := Send(client, s.srv.URL, req)
				if err != nil || status != http.StatusOK {
					t.Errorf("%s: %v %d %s", s.name, err, status, tail(string(b), 200))
				}
				return lat
			}
			Loop(workers, 200, d, fire) // warm-up
			cpu0, ccpu0, sw0 := procCPU(t, s.srv.PID()), procCPU(t, self), switches(s.srv.PID())
			rcpu0, calls0 := redisCPU(t, rd.Addr()), scripts(t, rd.Addr())
			st := Loop(workers, 0, d, fire)
			r := result{rps: st.RPS()}
			n := float64(st.Count)
			r.cpuNs = float64(procCPU(t, s.srv.PID())-cpu0) / n
			r.clientNs = float64(procCPU(t, self)-ccpu0) / n
			r.switches = float64(switches(s.srv.PID())-sw0) / n
			// Redis's CPU counts for every server: the idle Redis of the
			// memory server's cell is the baseline of the others.
			r.redisNs = float64(redisCPU(t, rd.Addr())-rcpu0) / n
			if s.redis {
				r.scripts = float64(scripts(t, rd.Addr())-calls0) / n
			}
			cur[i] = r
		}
		for i, s := range servers {
			r := cur[i]
			r.ratio = r.rps / cur[0].rps
			r.cpuRatio = (cur[0].cpuNs + cur[0].clientNs + cur[0].redisNs) / (r.cpuNs + r.clientNs + r.redisNs)
			res[i] = append(res[i], r)
			t.Logf("round %d, %s: %.0f req/s (%.2f × memory), cpu-ns/req: server %.0f, load generator %.0f, Redis %.0f (%.2f × memory's CPU); %.2f server context switches/req, %.3f scripts/req",
				round, s.name, r.rps, r.ratio, r.cpuNs, r.clientNs, r.redisNs, r.cpuRatio, r.switches, r.scripts)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "### GET /v1/models, rate limits in memory vs Redis vs Redis with -limit-batch 20 (%d closed-loop clients, %v per cell, median of %d interleaved rounds, loopback, GOMAXPROCS %s)\n\n", workers, d, rounds, gomaxprocs())
	b.WriteString("| server | req/s | vs memory (same round) | server CPU/req | load generator CPU/req | Redis CPU/req | server context switches/req | Redis scripts/req | memory's CPU/req ÷ this |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for i, s := range servers {
		rs := res[i]
		// Each column's own median over the rounds.
		col := func(f func(result) float64) float64 {
			v := make([]float64, len(rs))
			for j, r := range rs {
				v[j] = f(r)
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		scriptsCol := "—"
		if s.redis {
			scriptsCol = fmt.Sprintf("%.3f", col(func(r result) float64 { return r.scripts }))
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.2f | %.1f µs | %.1f µs | %.1f µs | %.2f | %s | %.2f |\n", s.name,
			col(func(r result) float64 { return r.rps }), col(func(r result) float64 { return r.ratio }),
			col(func(r result) float64 { return r.cpuNs })/1e3, col(func(r result) float64 { return r.clientNs })/1e3,
			col(func(r result) float64 { return r.redisNs })/1e3, col(func(r result) float64 { return r.switches }),
			scriptsCol, col(func(r result) float64 { return r.cpuRatio }))
	}
	WriteResult(t, "limitbatch.md", b.String())
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
