package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/pgstore"
	"github.com/clipia/apiguard/idempotency/storetest"
	"github.com/clipia/apiguard/internal/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestStoreSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) idempotency.Store {
		return newStore(t, nil, pgstore.Config{})
	})
}

func TestSchema(t *testing.T) {
	def, err := pgstore.Schema("")
	if err != nil {
		t.Fatal(err)
	}
	same, _ := pgstore.Schema(pgstore.DefaultTable)
	if def != same {
		t.Errorf("Schema(%q) differs from Schema(\"\")", pgstore.DefaultTable)
	}
	if !strings.Contains(def, "CREATE TABLE IF NOT EXISTS apiguard_idempotency (") ||
		!strings.Contains(def, "CREATE INDEX IF NOT EXISTS apiguard_idempotency_expires_idx ON apiguard_idempotency (expires_at)") {
		t.Errorf("default schema:\n%s", def)
	}
	q, err := pgstore.Schema("billing.idem")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(q, "CREATE TABLE IF NOT EXISTS billing.idem (") ||
		!strings.Contains(q, "CREATE INDEX IF NOT EXISTS idem_expires_idx ON billing.idem (expires_at)") ||
		strings.Contains(q, "apiguard_idempotency (") {
		t.Errorf("qualified schema:\n%s", q)
	}
	for _, bad := range []string{"Idem", "1idem", "idem;drop table x", "a.b.c", "idem-x", `"idem"`, strings.Repeat("a", 49), "é"} {
		if _, err := pgstore.Schema(bad); err == nil {
			t.Errorf("Schema(%q): got no error", bad)
		}
		if _, err := pgstore.New(pool(t), pgstore.Config{Table: bad}); err == nil {
			t.Errorf("New with Table %q: got no error", bad)
		}
	}
}

func TestNewValidation(t *testing.T) {
	if _, err := pgstore.New(nil, pgstore.Config{}); err == nil {
		t.Error("New(nil): got no error")
	}
	for _, cfg := range []pgstore.Config{{Timeout: -1}, {SweepBatch: -1}, {ClaimPool: pool(t)}} {
		if _, err := pgstore.New(pool(t), cfg); err == nil {
			t.Errorf("New(%+v): got no error", cfg)
		}
	}
	s, err := pgstore.New(pool(t), pgstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Table() != pgstore.DefaultTable {
		t.Errorf("Table: got %q, want %q", s.Table(), pgstore.DefaultTable)
	}
	s.Close()
	s.Close() // twice is fine
}

func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	p := pool(t)
	table := uniqueTable(t)
	t.Cleanup(func() { _, _ = p.Exec(context.Background(), "DROP TABLE IF EXISTS "+table) })
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			s, err := pgstore.New(p, pgstore.Config{Table: table, SweepInterval: -1})
			if err == nil {
				err = s.Migrate(context.Background())
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Migrate: %v", err)
		}
	}
	s := newStore(t, p, pgstore.Config{Table: table})
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	if _, err := s.Claim(context.Background(), "k", "fp", time.Minute); err != nil {
		t.Fatalf("Claim on the migrated table: %v", err)
	}
}

func TestSchemaQualifiedTable(t *testing.T) {
	p := pool(t)
	ctx := context.Background()
	schema := fmt.Sprintf("apiguard_schema_%d", randInt())
	if _, err := p.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE") })
	s := newStore(t, p, pgstore.Config{Table: schema + ".idem"})
	tok, err := s.Claim(ctx, "k", "fp", time.Minute)
	if err != nil || !tok.Claimed {
		t.Fatalf("Claim: %+v %v", tok, err)
	}
	var n int
	if err := p.QueryRow(ctx, "SELECT count(*) FROM "+schema+".idem").Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows in %s.idem: %d %v, want 1", schema, n, err)
	}
}

// The key column is bytea: any Go string is a key, NUL and invalid UTF-8
// included, and keys differing in such bytes are different records.
func TestKeysAreBytes(t *testing.T) {
	s := newStore(t, nil, pgstore.Config{})
	ctx := context.Background()
	keys := []string{"a\x00b", "a\x00c", "\xff\xfe", "\xff"}
	for _, k := range keys {
		r, err := s.Claim(ctx, k, "fp", time.Minute)
		if err != nil || !r.Claimed {
			t.Fatalf("Claim(%q): %+v %v", k, r, err)
		}
	}
}

func TestErrorsWrapTheCauseWithoutSQL(t *testing.T) {
	s, err := pgstore.New(pool(t), pgstore.Config{Table: uniqueTable(t), SweepInterval: -1}) // not migrated
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	_, err = s.Claim(ctx, "k", "fp", time.Minute)
	if err == nil {
		t.Fatal("Claim on a missing table: got no error")
	}
	if !strings.HasPrefix(err.Error(), "pgstore: claim: ") || !strings.Contains(err.Error(), "42P01") {
		t.Errorf("error: got %q, want it to name the step and wrap the PostgreSQL error", err)
	}
	for _, sql := range []string{"INSERT", "SELECT", "ON CONFLICT"} {
		if strings.Contains(err.Error(), sql) {
			t.Errorf("error %q carries SQL text", err)
		}
	}
	if errors.Is(err, idempotency.ErrLeaseLost) {
		t.Error("a failing store must not look like a lost lease")
	}
	if err := s.Commit(ctx, "k", "t", idempotency.Response{Status: 200}, time.Minute); err == nil || errors.Is(err, idempotency.ErrLeaseLost) {
		t.Errorf("Commit on a missing table: got %v, want a store error", err)
	}
}

// The database's clock decides, not the process's: a record's ExpiresAt is
// the database's deadline translated to local time.
func TestExpiresAtFollowsTheDatabaseClock(t *testing.T) {
	s := newStore(t, nil, pgstore.Config{})
	ctx := context.Background()
	before := time.Now()
	if _, err := s.Claim(ctx, "k", "fp", time.Hour); err != nil {
		t.Fatal(err)
	}
	rec, ok, err := s.Get(ctx, "k")
	if err != nil || !ok {
		t.Fatalf("Get: %v %v", ok, err)
	}
	if d := rec.ExpiresAt.Sub(before); d < time.Hour-2*time.Second || d > time.Hour+2*time.Second {
		t.Errorf("ExpiresAt: %v after the claim, want about an hour", d)
	}
	// Move the row's deadline by the database's clock only: it is
	// expired although no local time passed.
	if _, err := pool(t).Exec(ctx, "UPDATE "+s.Table()+" SET expires_at = now() - interval '1 second'"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get(ctx, "k"); ok {
		t.Error("Get of a row expired by the database's clock: got a record")
	}
}

func TestConcurrentTakeoverOfAnExpiredRecord(t *testing.T) {
	s := newStore(t, nil, pgstore.Config{})
	ctx := context.Background()
	old, err := s.Claim(ctx, "k", "fp", time.Millisecond)
	if err != nil || !old.Claimed {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	const n = 40
	var wins atomic.Int32
	var winner atomic.Value
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			r, err := s.Claim(ctx, "k", "fp2", time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			if r.Claimed {
				wins.Add(1)
				winner.Store(r.Token)
			} else if r.Record.State != idempotency.StateInProgress || r.Record.Fingerprint != "fp2" {
				t.Errorf("loser saw %v %q, want the winner's in-progress fp2", r.Record.State, r.Record.Fingerprint)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("winners of the takeover: %d, want 1", wins.Load())
	}
	rec, _, _ := s.Get(ctx, "k")
	if rec.Token != winner.Load().(string) {
		t.Errorf("record token %q, want the winner's", rec.Token)
	}
	if err := s.Commit(ctx, "k", old.Token, idempotency.Response{Status: 200}, time.Minute); !errors.Is(err, idempotency.ErrLeaseLost) {
		t.Errorf("old owner's Commit: got %v, want ErrLeaseLost", err)
	}
}

// A claim racing with the commit or release of the record always gets a
// coherent answer: claimed, or the live record in one of its states.
func TestClaimRacingWithCommitAndRelease(t *testing.T) {
	s := newStore(t, nil, pgstore.Config{})
	ctx := context.Background()
	for i := range 30 {
		key := fmt.Sprintf("k%d", i)
		r, err := s.Claim(ctx, key, "fp", time.Minute)
		if err != nil || !r.Claimed {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				err = s.Commit(ctx, key, r.Token, idempotency.Response{Status: 201, Body: []byte("ok")}, time.Minute)
			} else {
				err = s.Release(ctx, key, r.Token)
			}
			if err != nil {
				t.Error(err)
			}
		})
		for range 4 {
			wg.Go(func() {
				c, err := s.Claim(ctx, key, "fp", time.Minute)
				switch {
				case err != nil:
					t.Error(err)
				case c.Claimed:
				case c.Record.State == idempotency.StateCompleted && (c.Record.Response == nil || string(c.Record.Response.Body) != "ok"):
					t.Errorf("completed record without its response: %+v", c.Record)
				case c.Record.State != idempotency.StateCompleted && c.Record.State != idempotency.StateInProgress:
					t.Errorf("record in state %v", c.Record.State)
				}
			})
		}
		wg.Wait()
	}
}

func TestSweepDeletesDeadRowsInBatches(t *testing.T) {
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	tr := &deleteTracer{}
	cfg.ConnConfig.Tracer = tr
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	s := newStore(t, p, pgstore.Config{SweepBatch: 100})
	ctx := context.Background()
	// 250 dead rows (expired leases and retentions), 5 live ones.
	if _, err := p.Exec(ctx, `INSERT INTO `+s.Table()+` (key, state, fingerprint, token, expires_at, response)
		SELECT convert_to('dead' || i, 'UTF8'), 1 + i % 2, 'fp', 't', now() - interval '1 second', CASE WHEN i % 2 = 1 THEN '\x01'::bytea END
		FROM generate_series(1, 250) AS i`); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := s.Claim(ctx, fmt.Sprint("live", i), "fp", time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	tr.reset()
	n, err := s.Sweep(ctx)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if n != 250 {
		t.Errorf("Sweep deleted %d rows, want 250", n)
	}
	if got := tr.deletes(); fmt.Sprint(got) != "[100 100 50]" {
		t.Errorf("rows per DELETE statement: got %v, want [100 100 50]", got)
	}
	var left int
	if err := p.QueryRow(ctx, "SELECT count(*) FROM "+s.Table()).Scan(&left); err != nil || left != 5 {
		t.Errorf("rows left: %d %v, want the 5 live ones", left, err)
	}
	if n, err := s.Sweep(ctx); err != nil || n != 0 {
		t.Errorf("second Sweep: %d %v, want 0", n, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Sweep(cctx); err == nil {
		t.Error("Sweep with a cancelled context: got no error")
	}
}

// deleteTracer records the rows affected by each DELETE statement.
type deleteTracer struct {
	mu   sync.Mutex
	rows []int64
}

type sqlKey struct{}

func (d *deleteTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, sqlKey{}, data.SQL)
}

func (d *deleteTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	if sql, _ := ctx.Value(sqlKey{}).(string); strings.HasPrefix(sql, "DELETE") && data.Err == nil {
		d.mu.Lock()
		d.rows = append(d.rows, data.CommandTag.RowsAffected())
		d.mu.Unlock()
	}
}

func (d *deleteTracer) reset() {
	d.mu.Lock()
	d.rows = nil
	d.mu.Unlock()
}

func (d *deleteTracer) deletes() []int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]int64(nil), d.rows...)
}

func TestBackgroundSweeper(t *testing.T) {
	p := pool(t)
	s := newStore(t, p, pgstore.Config{SweepInterval: 20 * time.Millisecond})
	ctx := context.Background()
	if _, err := s.Claim(ctx, "short", "fp", time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, "long", "fp", time.Minute); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		var n int
		if err := p.QueryRow(ctx, "SELECT count(*) FROM "+s.Table()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(20 * time.Second)
	for count() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the background sweeper left %d rows, want the live one", count())
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Close()
	// Stopped: a dead row now stays. (A closed store's own claims pool is
	// closed: the row comes through another store on the table.)
	other, err := pgstore.New(p, pgstore.Config{Table: s.Table(), SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Claim(ctx, "short2", "fp", time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := count(); n != 2 {
		t.Errorf("rows after Close: %d, want 2 (no sweeping after Close)", n)
	}
}

// TestCloseWaitsForTheSweepStatement: Close does not return while a sweep
// statement is still in the database (blocked here by a lock the test
// holds on the table), and none is left there after it returns.
func TestCloseWaitsForTheSweepStatement(t *testing.T) {
	p := pool(t)
	s := newStore(t, p, pgstore.Config{SweepInterval: 20 * time.Millisecond})
	ctx := context.Background()
	tx, err := p.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "LOCK TABLE "+s.Table()+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	sweeps := func() int {
		var n int
		err := p.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE query LIKE 'DELETE FROM ' || $1 || ' %' AND state = 'active' AND pid <> pg_backend_pid()`, s.Table()).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(20 * time.Second)
	for sweeps() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no sweep statement waiting on the locked table")
		}
		time.Sleep(10 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatalf("Close returned while the sweep statement waits in the database (%d there)", sweeps())
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	<-closed
	if n := sweeps(); n != 0 {
		t.Errorf("%d sweep statements in the database after Close returned, want none", n)
	}
}
