package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/internal/redistest"
)

// newPGApp builds the app with New on cfg and serves it; both end with t.
func newPGApp(t *testing.T, cfg Config) string {
	t.Helper()
	a, err := New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		srv.Close()
		if err := a.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv.URL
}

// TestPostgresWithRedis runs two apps with -postgres and -redis: rate
// limits are one bucket in Redis, the ledger one in PostgreSQL.
func TestPostgresWithRedis(t *testing.T) {
	db := pgDatabase(t)
	rs := redistest.Start(t)
	var urls []string
	for range 2 {
		cfg := defaultConfig(t)
		cfg.PostgresURL, cfg.RedisURL = db, "redis://"+rs.Addr+"/0"
		cfg.Rate, cfg.Burst, cfg.WorkDelay = 1, 3, 0
		urls = append(urls, newPGApp(t, cfg))
	}
	// The burst below must be spent within a second (rate 1/s): open both
	// apps' PostgreSQL connections first, with another key of the tenant
	// (its own bucket), so that no connection is dialled inside that second.
	for _, u := range urls {
		_ = balanceOf(t, u, "sk_test_readonly")
	}
	if r := do(t, urls[0], post("sk_test_full", okBody, "with-redis")); r.status != http.StatusCreated {
		t.Fatalf("POST: %d %s, want 201", r.status, r.body)
	}
	if got, want := balanceOf(t, urls[1], "sk_test_full"), int64(1000-5); got != want {
		t.Errorf("balance on the other app = %d, want %d", got, want)
	}
	// Two requests spent, the burst of 3 has one left: the fourth is 429.
	if r := do(t, urls[0], req{path: "/v1/models", key: "sk_test_full"}); r.status != http.StatusOK {
		t.Fatalf("third request: %d, want 200", r.status)
	}
	r := do(t, urls[1], req{path: "/v1/models", key: "sk_test_full"})
	checkError(t, r, errorWant{row: rowRateLimited, retryAfter: "1"})
}

// TestPostgresOwnIdempotencyStore gives the app an idempotency store of the
// caller's (in memory) with -postgres: the ledger stays in PostgreSQL, each
// charge commits its own transaction, and a replay still never charges.
func TestPostgresOwnIdempotencyStore(t *testing.T) {
	db := pgDatabase(t)
	is := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
	t.Cleanup(func() { is.Close() })
	cfg := defaultConfig(t)
	cfg.PostgresURL, cfg.IdempotencyStore, cfg.WorkDelay, cfg.Credits = db, is, 0, 7
	url := newPGApp(t, cfg)
	first := do(t, url, post("sk_test_full", okBody, "own-store"))
	if first.status != http.StatusCreated {
		t.Fatalf("POST: %d %s, want 201", first.status, first.body)
	}
	replay := do(t, url, post("sk_test_full", okBody, "own-store"))
	if replay.status != http.StatusCreated || replay.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: %d (Idempotent-Replayed %q), want 201 replayed", replay.status, replay.header.Get("Idempotent-Replayed"))
	}
	checkError(t, do(t, url, post("sk_test_full", okBody, "")), errorWant{row: rowInsufficientCredits})
	if got := balanceOf(t, url, "sk_test_full"); got != 2 {
		t.Errorf("balance = %d, want 2", got)
	}
	pool := pgPool(t, db)
	if got := pgCount(t, pool, `SELECT count(*) FROM information_schema.tables WHERE table_name = 'apiguard_idempotency'`); got != 0 {
		t.Errorf("the app created apiguard_idempotency although the caller gave its own store")
	}
}

// TestPostgresBadURL checks that a malformed -postgres is an error at
// start that does not repeat the password.
func TestPostgresBadURL(t *testing.T) {
	cfg := defaultConfig(t)
	cfg.PostgresURL = "postgres://u:s3cret@127.0.0.1:notaport/x"
	_, err := New(context.Background(), cfg, nil)
	if err == nil {
		t.Fatal("New accepted a malformed -postgres")
	}
	if !strings.HasPrefix(err.Error(), "-postgres: ") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q, want one naming -postgres without the password", err)
	}
}
