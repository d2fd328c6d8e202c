package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/redistest"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/jackc/pgx/v5"
)

// TestNULPromptIsRefusedAlike: a prompt holding U+0000, which PostgreSQL
// cannot store, answers 400 invalid_request naming prompt on the memory
// server and on the PostgreSQL one alike, with and without an
// Idempotency-Key (and the 400 is replayed), and charges nothing.
func TestNULPromptIsRefusedAlike(t *testing.T) {
	memory := defaultConfig(t)
	memory.WorkDelay = 0
	pg := defaultConfig(t)
	pg.WorkDelay, pg.PostgresURL = 0, pgDatabase(t)
	for name, cfg := range map[string]Config{"memory": memory, "postgres": pg} {
		t.Run(name, func(t *testing.T) {
			url := newPGApp(t, cfg)
			before := balanceOf(t, url, "sk_test_full")
			body := `{"model":"clipia-fast","prompt":"a\u0000b"}`
			want := errorWant{row: rowInvalidRequest, param: "prompt"}
			checkError(t, do(t, url, post("sk_test_full", body, "")), want)
			checkError(t, do(t, url, post("sk_test_full", body, "nul-key")), want)
			replay := do(t, url, post("sk_test_full", body, "nul-key"))
			if replay.status != http.StatusBadRequest || replay.header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("replay: %d (Idempotent-Replayed %q) %s, want the 400 replayed", replay.status, replay.header.Get("Idempotent-Replayed"), replay.body)
			}
			if got := balanceOf(t, url, "sk_test_full"); got != before {
				t.Errorf("balance = %d, want %d", got, before)
			}
		})
	}
}

// TestHugeUnknownFieldIsSmall: an unknown field named with 512,000
// characters answers a small 400 whose param is cut, and the idempotency
// guard stores and replays it as small.
func TestHugeUnknownFieldIsSmall(t *testing.T) {
	cfg := defaultConfig(t)
	cfg.WorkDelay = 0
	url := newPGApp(t, cfg)
	name := strings.Repeat("k", 512_000)
	body := `{"model":"clipia-fast","prompt":"x","` + name + `":1}`
	cut := strings.Repeat("k", 64) + "…"
	for _, key := range []string{"", "huge-field", "huge-field"} {
		r := do(t, url, post("sk_test_full", body, key))
		if r.status != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", r.status)
		}
		if len(r.body) > 512 {
			t.Errorf("got a body of %d bytes, want a small one", len(r.body))
		}
		if e := envelope(t, r, true); e.Param != cut || e.Message != cut+" is not a known field" {
			t.Errorf("got param %q message %q, want %q", e.Param, e.Message, cut)
		}
	}
}

// TestLedgerDataExceptionIsNotRetryable: a database error the ledger gets
// for a value the database cannot take (SQLSTATE class 22) answers a
// non-retryable 400, never a 503 that a retry could not fix.
func TestLedgerDataExceptionIsNotRetryable(t *testing.T) {
	p := pgPool(t, pgDatabase(t))
	ctx := context.Background()
	var s string
	err := p.QueryRow(ctx, "SELECT $1::text", "a\x00b").Scan(&s)
	if err == nil {
		t.Fatal("PostgreSQL took U+0000 in text")
	}
	checkRow := func(name string, got error, want row) {
		t.Helper()
		e := errorsx.From(got)
		if e.Status() != want.status || string(e.Code()) != want.code {
			t.Errorf("%s: got %d %s, want %d %s", name, e.Status(), e.Code(), want.status, want.code)
		}
	}
	checkRow("data exception", unavailable(ctx, "charge", err), rowInvalidRequest)
	checkRow("no rows is not one", unavailable(ctx, "charge", pgx.ErrTxClosed), rowUnavailable)
}

// TestLimitFailWithRedisKilled runs the server with -redis and each
// -limit-fail, and kills Redis: failing open, the rate-limited GET and the
// in-flight-limited POST pass; failing closed, both answer 503
// service_unavailable with Retry-After. The POST's rate limit is kept in
// memory (Config.RateLimitStore), so that the in-flight limit alone meets
// the dead Redis there.
func TestLimitFailWithRedisKilled(t *testing.T) {
	for _, mode := range []string{LimitFailOpen, LimitFailClosed} {
		t.Run(mode, func(t *testing.T) {
			for _, what := range []string{"rate", "in-flight"} {
				t.Run(what, func(t *testing.T) {
					rs := redistest.Start(t)
					cfg, err := ParseConfig([]string{"-redis", "redis://" + rs.Addr + "/0", "-limit-fail", mode,
						"-max-in-flight", "1", "-work-delay", "0", "-rate", "1000", "-burst", "1000"}, env(nil), io.Discard)
					if err != nil {
						t.Fatal(err)
					}
					r := req{path: "/v1/models", key: "sk_test_full"}
					if what == "in-flight" {
						ms := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{})
						t.Cleanup(func() { _ = ms.Close() })
						cfg.RateLimitStore = ms
						r = post("sk_test_full", okBody, "")
					}
					url := newPGApp(t, cfg)
					wantOK := do(t, url, r).status
					if wantOK != http.StatusOK && wantOK != http.StatusCreated {
						t.Fatalf("with Redis up: %d", wantOK)
					}
					rs.Kill()
					for i := range 3 {
						got := do(t, url, r)
						if mode == LimitFailOpen {
							if got.status != wantOK {
								t.Fatalf("request %d with Redis down, failing open: %d %s, want %d", i, got.status, got.body, wantOK)
							}
							continue
						}
						checkError(t, got, errorWant{row: rowUnavailable, retryAfter: "1"})
					}
				})
			}
		})
	}
}

// TestPostgresFullPoolLosesNoClaim runs twice as many keyed generations at
// once as the -postgres pool holds connections (64), each working longer
// than the lease (-lock-ttl 1.5s, -work-delay 1.8s): the ones that get a
// connection succeed and are charged once, the others wait for one and
// succeed, or answer 503 with Retry-After; no claim is ever lost (the renewals go through the
// store's own small pool, never behind the transactions), and every 503 is
// released, so its retry succeeds.
func TestPostgresFullPoolLosesNoClaim(t *testing.T) {
	if testing.Short() {
		t.Skip("128 generations against PostgreSQL")
	}
	if os.Getenv(envFramework) != "" {
		t.Skip("the pool does not depend on the front door: run once, not once per door at the same time")
	}
	const n = 2 * pgMaxConns
	cfg := defaultConfig(t)
	cfg.PostgresURL, cfg.Credits = pgDatabase(t), 1_000_000
	// Each generation works longer than its lease; the second wave waits
	// for a connection about as long as the store's timeout (2s): it runs,
	// or answers 503.
	cfg.LockTTL, cfg.WorkDelay = 1500*time.Millisecond, 1800*time.Millisecond
	cfg.Rate, cfg.Burst = 10_000, 10_000
	logs := &syncBuffer{}
	a, err := New(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		srv.Close()
		if err := a.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	url := srv.URL
	before := balanceOf(t, url, "sk_test_full")
	keys := make([]string, n)
	got := make([]resp, n)
	var wg sync.WaitGroup
	for i := range n {
		keys[i] = newKey("full-pool")
		wg.Go(func() { got[i] = do(t, url, post("sk_test_full", okBody, keys[i])) })
	}
	wg.Wait()
	created, unavailable := 0, 0
	for i, r := range got {
		switch r.status {
		case http.StatusCreated:
			created++
		case http.StatusServiceUnavailable:
			unavailable++
			if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
				t.Errorf("generation %d: 503 without Retry-After", i)
			}
		default:
			t.Errorf("generation %d: got %d %s, want 201 or 503", i, r.status, r.body)
		}
	}
	t.Logf("%d generations on a pool of %d: %d created, %d answered 503", n, pgMaxConns, created, unavailable)
	for _, l := range logs.lines(t) {
		if strings.Contains(l.str("msg"), "claim lost") {
			t.Errorf("a claim was lost: %v", l)
		}
	}
	// Every 503 released its claim: its retry runs now (the pool is free).
	for i, r := range got {
		if r.status == http.StatusServiceUnavailable {
			wg.Go(func() {
				if again, err := send(url, post("sk_test_full", okBody, keys[i])); err != nil || again.status != http.StatusCreated {
					t.Errorf("retry of generation %d: got %d %s (%v), want 201", i, again.status, again.body, err)
				}
			})
		}
	}
	wg.Wait()
	cost := before - balanceOf(t, url, "sk_test_full")
	if cost%int64(n) != 0 || cost == 0 {
		t.Fatalf("charged %d in all, want the same cost for each of %d generations", cost, n)
	}
	// Each replays without a second charge.
	after := balanceOf(t, url, "sk_test_full")
	for _, k := range keys {
		if r := do(t, url, post("sk_test_full", okBody, k)); r.status != http.StatusCreated || r.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("replay of %s: got %d (replayed %q)", k, r.status, r.header.Get("Idempotent-Replayed"))
		}
	}
	if got := balanceOf(t, url, "sk_test_full"); got != after {
		t.Errorf("balance after the replays %d, want %d", got, after)
	}
}
