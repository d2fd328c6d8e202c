package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/clipia/apiguard/internal/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The PostgreSQL tests run the server with -postgres on a real database:
// a fresh database of the shared cluster (pgtest.URL: $APIGUARD_POSTGRES_URL
// in CI) per test, or a private cluster (pgtest.Start) for the tests that
// stop PostgreSQL. Without PostgreSQL installed they skip, except under
// CI=true, where they fail.

// pgDatabase creates an empty database on the shared PostgreSQL server and
// returns its URL; it is dropped when t ends.
func pgDatabase(t *testing.T) string {
	t.Helper()
	base := pgtest.URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connecting to %s: %v", pgtest.EnvURL, err)
	}
	defer conn.Close(context.Background())
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "apiguard_app_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("CREATE DATABASE: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("dropping %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// pgPool opens a pool on dbURL for the test's own checks.
func pgPool(t *testing.T, dbURL string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// pgCount runs a count query on p.
func pgCount(t *testing.T, p *pgxpool.Pool, sql string, args ...any) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var n int64
	if err := p.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// newKey returns a fresh Idempotency-Key.
func newKey(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// TestPostgresTwoProcesses runs two server processes on one database: they
// share one ledger (a spend on one shows in the balance on the other, and
// the generation is readable there), duplicates with one key sent to both
// while the first runs run and charge once (the other answers in progress,
// then replays), and a process started later never resets a balance.
//
// Process 0 runs its generations for 5 s, process 1 at once: the duplicate
// goes to process 1 once the database shows process 0's claim, and has
// seconds of slack to arrive while process 0 still runs.
func TestPostgresTwoProcesses(t *testing.T) {
	db := pgDatabase(t)
	procs := []*proc{
		startProc(t, "-postgres", db, "-work-delay", "5s"),
		startProc(t, "-postgres", db, "-work-delay", "10ms"),
	}
	for i, p := range procs {
		if !strings.Contains(p.log.String(), `"store":"postgres"`) {
			t.Fatalf("process %d does not use PostgreSQL:\n%s", i, p.log)
		}
	}
	pool := pgPool(t, db)

	r := do(t, procs[1].url, post("sk_test_full", okBody, ""))
	if r.status != http.StatusCreated {
		t.Fatalf("POST on process 1: %d %s, want 201", r.status, r.body)
	}
	g := decode[generationBody](t, r)
	if got, want := balanceOf(t, procs[0].url, "sk_test_readonly"), int64(1000-5); got != want {
		t.Errorf("balance on process 0 after a spend on process 1 = %d, want %d", got, want)
	}
	if got := do(t, procs[0].url, req{path: "/v1/generations/" + g.ID, key: "sk_test_full"}); got.status != http.StatusOK ||
		decode[generationBody](t, got) != g {
		t.Errorf("GET the generation on process 0: %d %s, want 200 %+v", got.status, got.body, g)
	}
	if got := do(t, procs[0].url, req{path: "/v1/generations/" + g.ID, key: "sk_test_other"}); got.status != http.StatusNotFound {
		t.Errorf("GET acme's generation as globex: %d, want 404", got.status)
	}

	// Duplicates, one to each process: the first to process 0, the second
	// to process 1 once process 0 holds the claim.
	type result struct {
		proc int
		r    resp
	}
	winnerc := make(chan result, 1)
	go func() {
		r, err := send(procs[0].url, post("sk_test_full", okBody, "two-procs"))
		if err != nil {
			t.Errorf("process 0: %v", err)
		}
		winnerc <- result{0, r}
	}()
	waitFor(t, "process 0's claim", func() bool {
		return pgCount(t, pool, `SELECT count(*) FROM apiguard_idempotency WHERE state = 1`) == 1
	})
	loser := result{1, do(t, procs[1].url, post("sk_test_full", okBody, "two-procs"))}
	checkError(t, loser.r, errorWant{row: rowInProgress, retryAfter: "1"})
	winner := <-winnerc
	if winner.r.status != http.StatusCreated || winner.r.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("process %d: %d %s (Idempotent-Replayed %q), want 201 run",
			winner.proc, winner.r.status, winner.r.body, winner.r.header.Get("Idempotent-Replayed"))
	}
	for _, p := range procs {
		replay := do(t, p.url, post("sk_test_full", okBody, "two-procs"))
		if replay.status != http.StatusCreated || replay.header.Get("Idempotent-Replayed") != "true" || string(replay.body) != string(winner.r.body) {
			t.Errorf("retry: %d %s (Idempotent-Replayed %q), want the first response replayed",
				replay.status, replay.body, replay.header.Get("Idempotent-Replayed"))
		}
	}
	for i, p := range procs {
		if got, want := balanceOf(t, p.url, "sk_test_full"), int64(1000-10); got != want {
			t.Errorf("balance on process %d = %d, want %d (two generations, one charge each)", i, got, want)
		}
	}

	// A process started later with other -credits keeps the balances.
	late := startProc(t, "-postgres", db, "-credits", "5000")
	if got, want := balanceOf(t, late.url, "sk_test_full"), int64(1000-10); got != want {
		t.Errorf("balance on a process started later = %d, want %d (never reset)", got, want)
	}
	if got, want := balanceOf(t, late.url, "sk_test_nocredits"), int64(0); got != want {
		t.Errorf("initech's balance = %d, want %d", got, want)
	}
}

// TestPostgresNeverOverspends sends many concurrent generations of one
// tenant with few credits to two processes, with and without keys: exactly
// as many succeed as the credits pay for, every other answers 402, the
// balance ends at zero, and replays of the successes charge nothing.
//
// The requests are sent as a client following the contract would: a
// process loaded past its statement bound (2 s) answers 503, and a key whose
// claim statement timed out may be in progress (409) until its lock ends
// (-lock-ttl 3s); both say X-Should-Retry: true and are retried after their
// Retry-After. Neither charged anything, so the counts below are exact.
func TestPostgresNeverOverspends(t *testing.T) {
	db := pgDatabase(t)
	args := []string{"-postgres", db, "-credits", "23", "-work-delay", "20ms", "-rate", "10000", "-burst", "10000", "-lock-ttl", "3s"}
	procs := []*proc{startProc(t, args...), startProc(t, args...)}
	const n = 40
	type result struct {
		key string
		r   resp
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	var retried atomic.Int32
	for i := range n {
		key := ""
		if i%2 == 0 {
			key = newKey("spend")
		}
		wg.Go(func() {
			r, err := send(procs[i%2].url, post("sk_test_full", okBody, key))
			for deadline := time.Now().Add(30 * time.Second); err == nil && time.Now().Before(deadline) &&
				(r.status == http.StatusServiceUnavailable ||
					r.status == http.StatusConflict && bytes.Contains(r.body, []byte(`"request_in_progress"`))); {
				retried.Add(1)
				time.Sleep(time.Second)
				r, err = send(procs[i%2].url, post("sk_test_full", okBody, key))
			}
			if err != nil {
				t.Errorf("request %d: %v", i, err)
			}
			results[i] = result{key, r}
		})
	}
	wg.Wait()
	if n := retried.Load(); n > 0 {
		t.Logf("%d answers were 503 or 409 in progress, retried", n)
	}
	var created []result
	for i, res := range results {
		switch res.r.status {
		case http.StatusCreated:
			created = append(created, res)
		case http.StatusPaymentRequired:
			checkError(t, res.r, errorWant{row: rowInsufficientCredits})
		default:
			t.Errorf("request %d: %d %s, want 201 or 402", i, res.r.status, res.r.body)
		}
	}
	if t.Failed() {
		t.Logf("log of process 0:\n%s", procs[0].log)
	}
	if len(created) != 4 {
		t.Errorf("%d generations succeeded, want 4 (23 credits at 5 each)", len(created))
	}
	if got := balanceOf(t, procs[1].url, "sk_test_full"); got != 3 {
		t.Errorf("balance = %d, want 3", got)
	}
	for _, c := range created {
		if c.key == "" {
			continue
		}
		for _, p := range procs {
			replay := do(t, p.url, post("sk_test_full", okBody, c.key))
			if replay.status != http.StatusCreated || replay.header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("replay of %s: %d %s, want 201 replayed", c.key, replay.status, replay.body)
			}
		}
	}
	if got := balanceOf(t, procs[0].url, "sk_test_full"); got != 3 {
		t.Errorf("balance after replays = %d, want 3 (a replay never charges)", got)
	}
	pool := pgPool(t, db)
	if got := pgCount(t, pool, `SELECT count(*) FROM clipia_generations WHERE tenant = 'acme'`); got != int64(len(created)) {
		t.Errorf("%d generations stored, want %d", got, len(created))
	}
}

// TestPostgresStoppedUnderLoad stops PostgreSQL (immediate shutdown) while
// generations with keys run, and starts it again: meanwhile the guarded
// requests answer 503 service_unavailable (never a 500, never SQL); the
// server recovers by itself; after the retries every key has exactly one
// generation, readable, charged once; no 201 was lost.
func TestPostgresStoppedUnderLoad(t *testing.T) {
	pg := pgtest.Start(t)
	s := startServer(t, "-postgres", pg.URL, "-work-delay", "10ms", "-lock-ttl", "1s",
		"-rate", "100000", "-burst", "100000", "-credits", "1000000")

	var (
		mu      sync.Mutex
		created = map[string]string{} // key → generation id of a 201
		keys    []string
		counts  = map[int]int{}
	)
	record := func(key string, r resp) {
		mu.Lock()
		defer mu.Unlock()
		counts[r.status]++
		switch r.status {
		case http.StatusCreated:
			id := decode[generationBody](t, r).ID
			if prev, ok := created[key]; ok && prev != id {
				t.Errorf("key %s answered generations %s and %s", key, prev, id)
			}
			created[key] = id
		case http.StatusServiceUnavailable:
			if e := envelope(t, r, false); e.Code != "service_unavailable" || strings.Contains(strings.ToLower(e.Message), "sql") ||
				strings.Contains(e.Message, "127.0.0.1") {
				t.Errorf("503 body %s, want service_unavailable without internals", r.body)
			}
		default:
			t.Errorf("key %s: %d %s, want 201 or 503", key, r.status, r.body)
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				key := newKey("load")
				mu.Lock()
				keys = append(keys, key)
				mu.Unlock()
				r, err := send(s.url, post("sk_test_full", okBody, key))
				if err != nil {
					t.Errorf("POST: %v", err)
					return
				}
				record(key, r)
				if r.status != http.StatusCreated {
					time.Sleep(20 * time.Millisecond) // a client's backoff
				}
			}
		})
	}
	createdNow := func() int { mu.Lock(); defer mu.Unlock(); return counts[http.StatusCreated] }
	waitFor(t, "generations before the stop", func() bool { return createdNow() >= 20 })
	pg.Stop()
	stoppedAt := createdNow()
	waitFor(t, "503s while PostgreSQL is down", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return counts[http.StatusServiceUnavailable] >= 20
	})
	pg.Restart(t)
	restarted := time.Now()
	waitFor(t, "generations after the restart", func() bool { return createdNow() >= stoppedAt+20 })
	t.Logf("recovered %v after the restart", time.Since(restarted).Round(time.Millisecond))
	stop()
	wg.Wait()

	// Retry every key that did not get its 201 until it gets one (a
	// replay when the first attempt committed after all).
	var retry []string
	for _, key := range keys {
		if _, ok := created[key]; !ok {
			retry = append(retry, key)
		}
	}
	todo := make(chan string, len(retry))
	for _, key := range retry {
		todo <- key
	}
	close(todo)
	for range 8 {
		wg.Go(func() {
			for key := range todo {
				deadline := time.Now().Add(10 * time.Second)
				for {
					r, err := send(s.url, post("sk_test_full", okBody, key))
					if err != nil {
						t.Errorf("retry of %s: %v", key, err)
						break
					}
					if r.status == http.StatusCreated {
						record(key, r)
						break
					}
					if r.status != http.StatusConflict && r.status != http.StatusServiceUnavailable || time.Now().After(deadline) {
						t.Errorf("retry of %s: %d %s, want 201 in the end", key, r.status, r.body)
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	ids := map[string]bool{}
	for key, id := range created {
		if ids[id] {
			t.Errorf("generation %s answered for two keys (%s)", id, key)
		}
		ids[id] = true
		if r := do(t, s.url, req{path: "/v1/generations/" + id, key: "sk_test_full"}); r.status != http.StatusOK {
			t.Errorf("GET %s (answered 201 for %s): %d, want 200: a generation was lost", id, key, r.status)
		}
	}
	if got, want := len(created), len(keys); got != want {
		t.Errorf("%d keys ended with a generation, want %d", got, want)
	}
	if got, want := balanceOf(t, s.url, "sk_test_full"), int64(1000000-5*len(ids)); got != want {
		t.Errorf("balance = %d, want %d (%d generations charged once each)", got, want, len(ids))
	}
	if got := pgCount(t, pgPool(t, pg.URL), `SELECT count(*) FROM clipia_generations`); got != int64(len(ids)) {
		t.Errorf("%d generations stored, want %d", got, len(ids))
	}
	t.Logf("%d keys, %d retried; answers %v", len(keys), len(retry), counts)
}

// TestPostgresKilledHolderFreesKey SIGKILLs a server process while it holds
// the claim of a key (its generation runs for 10s), just after the holder
// renewed its lease (2s): its transaction is rolled back by PostgreSQL, the
// key stays in progress until that lease ends, then a retry on another
// process runs and charges once.
func TestPostgresKilledHolderFreesKey(t *testing.T) {
	const lease = 2 * time.Second
	db := pgDatabase(t)
	holder := startProc(t, "-postgres", db, "-work-delay", "10s", "-lock-ttl", lease.String())
	// The retries below come every 50ms for about a lease: a burst the
	// default rate limit (20, then 10/s) could refuse on a fast machine.
	other := startProc(t, "-postgres", db, "-work-delay", "10ms", "-lock-ttl", lease.String(), "-rate", "1000", "-burst", "1000")
	pool := pgPool(t, db)

	go func() { _, _ = send(holder.url, post("sk_test_full", okBody, "killed")) }()
	// expires_at of the claim, in microseconds (0 while there is none).
	expiry := func() int64 {
		return pgCount(t, pool, `SELECT coalesce(max((extract(epoch FROM expires_at) * 1000000)::bigint), 0)
			FROM apiguard_idempotency WHERE state = 1`)
	}
	var claimed int64
	waitFor(t, "the claim", func() bool { claimed = expiry(); return claimed != 0 })
	// Past one renewal (the lease is the holder's own): kill it just after
	// one, so the lease has nearly all of its 2s left.
	waitFor(t, "a renewal of the claim", func() bool { return expiry() > claimed })
	if err := holder.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	_ = holder.wait(t, 5*time.Second)

	r := do(t, other.url, post("sk_test_full", okBody, "killed"))
	checkError(t, r, errorWant{row: rowInProgress, retryAfter: "1"})
	for r.status != http.StatusCreated {
		if time.Since(killed) > 20*time.Second {
			t.Fatalf("key still not free %v after the kill: %d %s", time.Since(killed), r.status, r.body)
		}
		time.Sleep(50 * time.Millisecond)
		r = do(t, other.url, post("sk_test_full", okBody, "killed"))
	}
	freed := time.Since(killed)
	if freed > lease*5/2 {
		t.Errorf("key freed %v after the kill, want about one lease (%v)", freed, lease)
	}
	if r.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("the retry was replayed, want it run")
	}
	if got, want := balanceOf(t, other.url, "sk_test_full"), int64(1000-5); got != want {
		t.Errorf("balance = %d, want %d (charged once)", got, want)
	}
	if got := pgCount(t, pool, `SELECT count(*) FROM clipia_generations`); got != 1 {
		t.Errorf("%d generations stored, want 1", got)
	}
	t.Logf("key freed %v after the kill", freed.Round(time.Millisecond))
}

// TestPostgresUnreachableAtStart starts the server on a database that is
// down: it starts anyway, answers 503 on the routes that need the
// database, and serves normally once the database is up, without a
// restart.
func TestPostgresUnreachableAtStart(t *testing.T) {
	pg := pgtest.Start(t)
	pg.Stop()
	s := startServer(t, "-postgres", pg.URL, "-work-delay", "0s", "-rate", "1000", "-burst", "1000")
	for _, r := range []resp{
		do(t, s.url, post("sk_test_full", okBody, newKey("down"))),
		do(t, s.url, post("sk_test_full", okBody, "")),
		do(t, s.url, req{path: "/v1/balance", key: "sk_test_full"}),
	} {
		if r.status != http.StatusServiceUnavailable || envelope(t, r, false).Code != "service_unavailable" {
			t.Errorf("with the database down: %d %s, want 503 service_unavailable", r.status, r.body)
		}
	}
	if r := do(t, s.url, req{path: "/v1/models", key: "sk_test_full"}); r.status != http.StatusOK {
		t.Errorf("GET /v1/models with the database down: %d, want 200", r.status)
	}
	pg.Restart(t)
	var r resp
	waitFor(t, "a generation once the database is up", func() bool {
		r = do(t, s.url, post("sk_test_full", okBody, newKey("up")))
		return r.status == http.StatusCreated
	})
	if got, want := balanceOf(t, s.url, "sk_test_full"), int64(1000-5); got != want {
		t.Errorf("balance = %d, want %d", got, want)
	}
	if !strings.Contains(s.log.String(), "postgres not reachable at start") {
		t.Errorf("no warning logged for the unreachable database:\n%s", s.log)
	}
}
