package load

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/ratelimit"
)

// TestFrontDoors measures, in one run, requests/s and p50/p99 latency of
// GET /v1/models and POST /v1/generations (no work in the handler) on each
// front door (Echo v4, Echo v5, net/http): the bare framework doing the
// same handler work (BareStack), the reference server's app built in this
// process on that front door with memory stores (Apiguard); then the same
// pair as processes: the reference server run with -framework and the bare
// server (bench/load/bareserver). All over loopback HTTP with the same
// client and concurrency; the cells of one round run interleaved (route by
// route, every target in turn), so a noisy neighbour weighs on all of them
// alike. It prints a markdown table (the file frontdoors under APIGUARD_RESULTS, .md)
// with each target's req/s over its bare framework's in the same setting
// (in process, or process).
func TestFrontDoors(t *testing.T) {
	d, workers, rounds := cellTime()
	if !Long() {
		d /= 2 // 24 cells: keep the short version short
	}
	type target struct {
		framework, stack, url string
	}
	var targets []target
	for _, fw := range Frameworks {
		bare, err := NewStack(StackConfig{Stack: BareStack(fw)})
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, target{fw, "bare, in process", Serve(t, bare)})

		ms := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{})
		t.Cleanup(func() { ms.Close() })
		is := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
		t.Cleanup(func() { is.Close() })
		h, err := NewStack(StackConfig{Stack: Apiguard, Framework: fw, RateStore: ms, IdemStore: is})
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, target{fw, "apiguard app, in process", Serve(t, h)})

		srv := StartServer(t, "-framework", fw, "-rate", "1000000000", "-burst", "1000000000",
			"-work-delay", "0", "-credits", "9000000000000000000")
		t.Cleanup(func() { srv.CheckNoRace(t) })
		targets = append(targets, target{fw, "reference server process", srv.URL})
		targets = append(targets, target{fw, "bare server process", StartBareServer(t, fw).URL})
	}

	body := []byte(`{"model":"clipia-fast","prompt":"a cat riding a bicycle","duration":5}`)
	routes := []struct {
		name   string
		status int
		req    Req
	}{
		{"GET /v1/models", http.StatusOK, Req{Method: "GET", Path: "/v1/models", APIKey: "sk_test_full"}},
		{"POST /v1/generations", http.StatusCreated, Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_full", Body: body}},
	}
	client := NewHTTPClient(workers, 10*time.Second)
	var cells []cell
	for round := 0; round < rounds; round++ {
		for _, rt := range routes {
			for _, tg := range targets {
				var (
					badMu sync.Mutex
					bad   []string
				)
				fire := func(int) time.Duration {
					status, _, b, lat, err := Send(client, tg.url, rt.req)
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
				Loop(workers, 200, d, fire) // warm-up
				bad = bad[:0]
				st := Loop(workers, 0, d, fire)
				if len(bad) > 0 {
					t.Errorf("%s %s %s: %d of %d responses were not %d: %v", tg.framework, tg.stack, rt.name, len(bad), st.Count, rt.status, bad[:min(5, len(bad))])
				}
				if st.Count == 0 {
					t.Errorf("%s %s %s: no request completed", tg.framework, tg.stack, rt.name)
				}
				cells = append(cells, cell{stack: tg.framework + "|" + tg.stack, route: rt.name, st: st, trips: -1, evals: -1})
			}
		}
	}
	WriteResult(t, "frontdoors.md", formatFrontDoors(medians(cells), d, workers, rounds))
}

// formatFrontDoors writes the cells of TestFrontDoors (stack is
// "framework|stack") as a markdown table, with each cell's req/s over its
// framework's bare stack on the same route.
func formatFrontDoors(cells []cell, d time.Duration, workers, rounds int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Front doors end to end (%d closed-loop clients, %v per cell, median of %d rounds, loopback, GOMAXPROCS %s)\n\n", workers, d, rounds, gomaxprocs())
	b.WriteString("| route | front door | stack | req/s | p50 | p99 | req/s vs bare |\n|---|---|---|---:|---:|---:|---:|\n")
	// setting is "in process" or "process": each stack is compared with
	// the bare framework in the same setting.
	setting := func(stack string) string {
		if strings.HasSuffix(stack, "in process") {
			return "in process"
		}
		return "process"
	}
	base := map[string]float64{}
	for _, c := range cells {
		if fw, st, _ := strings.Cut(c.stack, "|"); strings.HasPrefix(st, "bare") {
			base[c.route+"|"+fw+"|"+setting(st)] = c.st.RPS()
		}
	}
	for _, c := range cells {
		fw, st, _ := strings.Cut(c.stack, "|")
		rel := "—"
		if a := base[c.route+"|"+fw+"|"+setting(st)]; a > 0 {
			rel = fmt.Sprintf("%.2f", c.st.RPS()/a)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.0f | %v | %v | %s |\n", c.route, fw, st, c.st.RPS(),
			c.st.Quantile(0.5).Round(time.Microsecond), c.st.Quantile(0.99).Round(time.Microsecond), rel)
	}
	return b.String()
}
