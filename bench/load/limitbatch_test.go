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

// TestLimitBatch measures GET /v1/models end to end on three reference
// server processes over loopback: rate limits in memory, in Redis (one
// script per decision), and in Redis with -limit-batch 20 (local token
// batches). The rounds interleave the three; each round gives each server
// the same closed-loop load, and the table reports the median round's
// requests/s, its ratio to the memory server's in the same round, the
// server process's CPU per request, Redis's CPU per request and the Redis
// scripts run per request (INFO commandstats). The rate limit is set high
// (10^9/s) so that every request is a 200 and the limiter's decision is
// what differs; the caller is one API key, as a hot client is.
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
		srv   *Server
	}{
		{name: "memory"},
		{name: "Redis", redis: true},
		{name: "Redis, -limit-batch 20", redis: true},
	}
	for i := range servers {
		flags := append([]string(nil), common...)
		if servers[i].redis {
			flags = append(flags, "-redis", rd.URL())
		}
		if strings.Contains(servers[i].name, "batch") {
			flags = append(flags, "-limit-batch", "20")
		}
		servers[i].srv = StartServer(t, flags...)
	}
	client := NewHTTPClient(workers, 10*time.Second)
	req := Req{Method: "GET", Path: "/v1/models", APIKey: "sk_test_full"}
	type result struct {
		rps, ratio, cpuNs, redisNs, scripts float64
	}
	res := make([][]result, len(servers))
	for round := range rounds {
		var memRPS float64
		for i, s := range servers {
			fire := func(int) time.Duration {
				status, _, b, lat, err := Send(client, s.srv.URL, req)
				if err != nil || status != http.StatusOK {
					t.Errorf("%s: %v %d %s", s.name, err, status, tail(string(b), 200))
				}
				return lat
			}
			Loop(workers, 200, d, fire) // warm-up
			cpu0, rcpu0, calls0 := procCPU(t, s.srv.PID()), redisCPU(t, rd.Addr()), scripts(t, rd.Addr())
			st := Loop(workers, 0, d, fire)
			r := result{rps: st.RPS()}
			n := float64(st.Count)
			r.cpuNs = float64(procCPU(t, s.srv.PID())-cpu0) / n
			if s.redis {
				r.redisNs = float64(redisCPU(t, rd.Addr())-rcpu0) / n
				r.scripts = float64(scripts(t, rd.Addr())-calls0) / n
			}
			if i == 0 {
				memRPS = r.rps
			}
			r.ratio = r.rps / memRPS
			res[i] = append(res[i], r)
			t.Logf("round %d, %s: %.0f req/s (%.2f × memory), %.0f server cpu-ns/req, %.0f Redis cpu-ns/req, %.3f scripts/req",
				round, s.name, r.rps, r.ratio, r.cpuNs, r.redisNs, r.scripts)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "### GET /v1/models, rate limits in memory vs Redis vs Redis with -limit-batch 20 (%d closed-loop clients, %v per cell, median of %d interleaved rounds, loopback, GOMAXPROCS %s)\n\n", workers, d, rounds, gomaxprocs())
	b.WriteString("| server | req/s | vs memory (same round) | server CPU/req | Redis CPU/req | Redis scripts/req |\n|---|---:|---:|---:|---:|---:|\n")
	for i, s := range servers {
		rs := res[i]
		slices.SortFunc(rs, func(a, b result) int { return int(a.ratio*1e6 - b.ratio*1e6) })
		m := rs[len(rs)/2]
		redisCol, scriptsCol := "—", "—"
		if s.redis {
			redisCol, scriptsCol = fmt.Sprintf("%.1f µs", m.redisNs/1e3), fmt.Sprintf("%.3f", m.scripts)
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.2f | %.1f µs | %s | %s |\n", s.name, m.rps, m.ratio, m.cpuNs/1e3, redisCol, scriptsCol)
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
