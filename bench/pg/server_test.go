package pg

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clipia/apiguard/bench/load"
	"github.com/clipia/apiguard/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

// database creates an empty database on the PostgreSQL of pgtest and
// returns its URL; it is dropped when tb ends, so every run starts from
// the -credits of its flags.
func database(tb testing.TB) string {
	tb.Helper()
	base := pgtest.URL(tb)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "apiguard_bench_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("dropping %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("dropping %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// serverCellTime is how long each cell runs and how many rounds (the
// median is kept).
func serverCellTime() (time.Duration, int) {
	switch {
	case load.Long():
		return 5 * time.Second, 3
	case load.RaceEnabled():
		return 300 * time.Millisecond, 1
	default:
		return 2 * time.Second, 1
	}
}

// TestServerPostgres measures the reference server's POST /v1/generations
// end to end (a server process over loopback HTTP, -work-delay 0, 50
// requests in flight), with and without Idempotency-Key, on -postgres
// against the in-memory server, and prints a markdown table. Every answer
// must be 201, and the PostgreSQL server's balance must have gone down by
// exactly the cost of the generations it answered.
func TestServerPostgres(t *testing.T) {
	d, rounds := serverCellTime()
	common := []string{"-rate", "1000000000", "-burst", "1000000000", "-work-delay", "0", "-credits", "1000000000000"}
	db := database(t)
	servers := []struct {
		name string
		srv  *load.Server
	}{
		{"memory", load.StartServer(t, common...)},
		{"-postgres", load.StartServer(t, append([]string{"-postgres", db}, common...)...)},
	}
	body := []byte(`{"model":"clipia-fast","prompt":"a cat riding a bicycle","duration":5}`)
	client := load.NewHTTPClient(inFlight, 10*time.Second)
	type row struct {
		server, route string
		st            load.Stats
	}
	var rows []row
	created := map[string]int{}
	for round := 0; round < rounds; round++ {
		for _, withKey := range []bool{false, true} {
			route := "POST /v1/generations"
			if withKey {
				route += " + Idempotency-Key"
			}
			for _, s := range servers {
				prefix := fmt.Sprintf("e2e-%d-%d-", round, time.Now().UnixNano())
				var (
					mu  sync.Mutex
					bad []string
					ok  int
				)
				fire := func(i int) time.Duration {
					r := load.Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_full", Body: body}
					if withKey {
						r.Header = map[string]string{"Idempotency-Key": prefix + strconv.Itoa(i)}
					}
					status, _, b, lat, err := load.Send(client, s.srv.URL, r)
					mu.Lock()
					defer mu.Unlock()
					if err != nil || status != http.StatusCreated {
						if len(bad) < 5 {
							bad = append(bad, fmt.Sprintf("%v %d %s", err, status, b))
						}
						return lat
					}
					ok++
					return lat
				}
				load.Loop(inFlight, 200, d, func(i int) time.Duration { return fire(1_000_000_000 + i) }) // warm-up
				st := load.Loop(inFlight, 0, d, fire)
				if len(bad) > 0 {
					t.Errorf("%s %s: answers other than 201: %v", s.name, route, bad)
				}
				created[s.name] += ok
				rows = append(rows, row{s.name, route, st})
			}
		}
	}
	// Every 201 of the PostgreSQL server charged exactly once.
	var balance struct {
		Credits int64 `json:"credits"`
	}
	if o, _, err := load.Do(client, servers[1].srv.URL, load.Req{Method: "GET", Path: "/v1/balance", APIKey: "sk_test_full"}); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(o.Body, &balance); err != nil {
		t.Fatal(err)
	}
	if want := int64(1000000000000 - 5*created["-postgres"]); balance.Credits != want {
		t.Errorf("-postgres balance %d, want %d (%d generations answered 201)", balance.Credits, want, created["-postgres"])
	}
	for _, s := range servers {
		s.srv.CheckNoRace(t)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "### Reference server, POST /v1/generations end to end (%d in flight, -work-delay 0, %v per cell, median of %d, loopback)\n\n", inFlight, d, rounds)
	b.WriteString("| route | server | req/s | p50 | p99 | req/s vs memory |\n|---|---|---:|---:|---:|---:|\n")
	base := map[string]float64{}
	by := map[string][]load.Stats{}
	var order []string
	for _, r := range rows {
		k := r.route + "|" + r.server
		if by[k] == nil {
			order = append(order, k)
		}
		by[k] = append(by[k], r.st)
	}
	for _, k := range order {
		sts := by[k]
		med := median(sts)
		route, server, _ := strings.Cut(k, "|")
		if server == "memory" {
			base[route] = med.RPS()
		}
		rel := "—"
		if m := base[route]; m > 0 {
			rel = fmt.Sprintf("%.2f", med.RPS()/m)
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f | %v | %v | %s |\n", route, server, med.RPS(),
			med.Quantile(0.5).Round(time.Microsecond), med.Quantile(0.99).Round(time.Microsecond), rel)
	}
	load.WriteResult(t, "postgres-server.md", b.String())
}

// median returns the run with the median requests per second.
func median(sts []load.Stats) load.Stats {
	s := slices.Clone(sts)
	slices.SortFunc(s, func(a, b load.Stats) int { return cmp.Compare(a.RPS(), b.RPS()) })
	return s[len(s)/2]
}
