package pgstore_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/pgstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ledger is a business table for the transaction tests.
func ledger(t *testing.T, p *pgxpool.Pool) string {
	t.Helper()
	name := uniqueTable(t) + "_ledger"
	if _, err := p.Exec(context.Background(), "CREATE TABLE "+name+" (id text PRIMARY KEY, amount int NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Exec(context.Background(), "DROP TABLE IF EXISTS "+name) })
	return name
}

func rowsIn(t *testing.T, p *pgxpool.Pool, table string) int {
	t.Helper()
	var n int
	if err := p.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func claim(t *testing.T, s *pgstore.Store, key string, lease time.Duration) string {
	t.Helper()
	r, err := s.Claim(context.Background(), key, "fp", lease)
	if err != nil || !r.Claimed {
		t.Fatalf("Claim(%q): %+v %v", key, r, err)
	}
	return r.Token
}

// handlerWrite is what a handler does: reach the transaction and write.
func handlerWrite(t *testing.T, ctx context.Context, table, id string) {
	t.Helper()
	tx, ok := pgstore.TxFromContext(ctx)
	if !ok {
		t.Fatal("TxFromContext: no transaction in the context given by Begin")
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+table+" (id, amount) VALUES ($1, 5)", id); err != nil {
		t.Fatalf("handler write: %v", err)
	}
}

var created = idempotency.Response{
	Status: http.StatusCreated,
	Header: http.Header{"Content-Type": {"application/json"}},
	Body:   []byte(`{"id":"gen_1"}`),
}

func TestTxCommitMakesWritesAndRecordVisibleTogether(t *testing.T) {
	p := pool(t)
	s := newStore(t, p, pgstore.Config{})
	table := ledger(t, p)
	ctx := context.Background()
	tok := claim(t, s, "k", time.Minute)

	hctx, tx, err := s.Begin(ctx, "k", tok)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	if _, ok := pgstore.TxFromContext(ctx); ok {
		t.Error("TxFromContext on the parent context: got a transaction")
	}
	handlerWrite(t, hctx, table, "gen_1")

	// Not committed yet: other sessions see neither the write nor a
	// completed record.
	if n := rowsIn(t, p, table); n != 0 {
		t.Errorf("ledger rows before Commit: %d, want 0", n)
	}
	if rec, _, _ := s.Get(ctx, "k"); rec.State != idempotency.StateInProgress {
		t.Errorf("record before Commit: %v, want in_progress", rec.State)
	}

	if err := tx.Commit(ctx, created, time.Hour); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if n := rowsIn(t, p, table); n != 1 {
		t.Errorf("ledger rows after Commit: %d, want 1", n)
	}
	r, err := s.Claim(ctx, "k", "fp", time.Minute)
	if err != nil || r.Claimed || r.Record.State != idempotency.StateCompleted {
		t.Fatalf("Claim after Commit: %+v %v, want the completed record", r, err)
	}
	if r.Record.Response.Status != created.Status || string(r.Record.Response.Body) != string(created.Body) ||
		r.Record.Response.Header.Get("Content-Type") != "application/json" {
		t.Errorf("stored response: %+v, want %+v", r.Record.Response, created)
	}
	if d := time.Until(r.Record.ExpiresAt); d < 59*time.Minute {
		t.Errorf("retention left: %v, want about an hour", d)
	}

	// Ended: the handler's transaction is closed, a second end is refused
	// or harmless, and the connection went back to the pool.
	if err := tx.Commit(ctx, created, time.Hour); !errors.Is(err, pgstore.ErrTxDone) {
		t.Errorf("second Commit: got %v, want ErrTxDone", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Errorf("Rollback after Commit: %v", err)
	}
	h, _ := pgstore.TxFromContext(hctx)
	if _, err := h.Exec(ctx, "SELECT 1"); !errors.Is(err, pgstore.ErrTxDone) || !errors.Is(err, pgx.ErrTxClosed) {
		t.Errorf("handler Exec after Commit: got %v, want ErrTxDone", err)
	}
}

func TestTxRollbackDiscardsWritesAndKeepsTheClaim(t *testing.T) {
	p := pool(t)
	s := newStore(t, p, pgstore.Config{})
	table := ledger(t, p)
	ctx := context.Background()
	tok := claim(t, s, "k", time.Minute)
	hctx, tx, err := s.Begin(ctx, "k", tok)
	if err != nil {
		t.Fatal(err)
	}
	handlerWrite(t, hctx, table, "gen_1")
	if err := tx.Rollback(ctx); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if n := rowsIn(t, p, table); n != 0 {
		t.Errorf("ledger rows after Rollback: %d, want 0", n)
	}
	if rec, ok, _ := s.Get(ctx, "k"); !ok || rec.State != idempotency.StateInProgress || rec.Token != tok {
		t.Errorf("record after Rollback: %+v, want still in progress (the guard releases it)", rec)
	}
	if err := tx.Commit(ctx, created, time.Hour); !errors.Is(err, pgstore.ErrTxDone) {
		t.Errorf("Commit after Rollback: got %v, want ErrTxDone", err)
	}
	if err := s.Release(ctx, "k", tok); err != nil {
		t.Errorf("Release after Rollback: %v", err)
	}
}

func TestTxHandlerCannotEndTheTransaction(t *testing.T) {
	p := pool(t)
	s := newStore(t, p, pgstore.Config{})
	table := ledger(t, p)
	ctx := context.Background()
	tok := claim(t, s, "k", time.Minute)
	hctx, tx, err := s.Begin(ctx, "k", tok)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := pgstore.TxFromContext(hctx)
	if err := h.Commit(ctx); !errors.Is(err, pgstore.ErrGuardOwnsTx) {
		t.Errorf("handler Commit: got %v, want ErrGuardOwnsTx", err)
	}
	if err := h.Rollback(ctx); !errors.Is(err, pgstore.ErrGuardOwnsTx) {
		t.Errorf("handler Rollback: got %v, want ErrGuardOwnsTx", err)
	}
	// A savepoint lets the handler undo part of its work.
	handlerWrite(t, hctx, table, "kept")
	sp, err := h.Begin(ctx)
	if err != nil {
		t.Fatalf("savepoint: %v", err)
	}
	if _, err := sp.Exec(ctx, "INSERT INTO "+table+" (id, amount) VALUES ('undone', 1)"); err != nil {
		t.Fatal(err)
	}
	if err := sp.Rollback(ctx); err != nil {
		t.Fatalf("savepoint rollback: %v", err)
	}
	var n int
	if err := h.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != 1 {
		t.Errorf("rows seen inside the transaction: %d %v, want 1", n, err)
	}
	if err := tx.Commit(ctx, created, time.Hour); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	var id string
	if err := p.QueryRow(ctx, "SELECT string_agg(id, ',') FROM "+table).Scan(&id); err != nil || id != "kept" {
		t.Errorf("committed rows: %q %v, want kept", id, err)
	}
}

func TestTxCommitAfterTheLeaseIsFenced(t *testing.T) {
	p := pool(t)
	s := newStore(t, p, pgstore.Config{})
	table := ledger(t, p)
	ctx := context.Background()
	tok := claim(t, s, "k", 100*time.Millisecond)
	hctx, tx, err := s.Begin(ctx, "k", tok)
	if err != nil {
		t.Fatal(err)
	}
	handlerWrite(t, hctx, table, "gen_1")
	time.Sleep(250 * time.Millisecond) // the handler outlived its lease
	if err := tx.Commit(ctx, created, time.Hour); !errors.Is(err, idempotency.ErrLeaseLost) {
		t.Fatalf("Commit after the lease: got %v, want ErrLeaseLost", err)
	}
	if n := rowsIn(t, p, table); n != 0 {
		t.Errorf("ledger rows after a fenced Commit: %d, want 0 (nothing committed)", n)
	}
	if _, ok, _ := s.Get(ctx, "k"); ok {
		t.Error("record after a fenced Commit: got one, want none")
	}
	if st := p.Stat(); st.AcquiredConns() != 0 {
		t.Errorf("connections still acquired: %d, want 0", st.AcquiredConns())
	}
}

func TestTxCommitAfterATakeoverIsFenced(t *testing.T) {
	p := pool(t)
	s := newStore(t, p, pgstore.Config{})
	table := ledger(t, p)
	ctx := context.Background()
	old := claim(t, s, "k", 100*time.Millisecond)
	hctx, tx, err := s.Begin(ctx, "k", old)
	if err != nil {
		t.Fatal(err)
	}
	handlerWrite(t, hctx, table, "stale")
	time.Sleep(200 * time.Millisecond)
	fresh := claim(t, s, "k", time.Minute) // a retry took the key over

	// The new owner runs and commits too.
	hctx2, tx2, err := s.Begin(ctx, "k", fresh)
	if err != nil {
		t.Fatal(err)
	}
	handlerWrite(t, hctx2, table, "fresh")

	if err := tx.Commit(ctx, idempotency.Response{Status: 200, Body: []byte("stale")}, time.Hour); !errors.Is(err, idempotency.ErrLeaseLost) {
		t.Fatalf("stale owner's Commit: got %v, want ErrLeaseLost", err)
	}
	if err := tx2.Commit(ctx, created, time.Hour); err != nil {
		t.Fatalf("new owner's Commit: %v", err)
	}
	var ids string
	if err := p.QueryRow(ctx, "SELECT string_agg(id, ',') FROM "+table).Scan(&ids); err != nil || ids != "fresh" {
		t.Errorf("committed ledger rows: %q %v, want only the new owner's", ids, err)
	}
	rec, _, _ := s.Get(ctx, "k")
	if rec.State != idempotency.StateCompleted || rec.Token != fresh || string(rec.Response.Body) != string(created.Body) {
		t.Errorf("record: %+v, want the new owner's completed response", rec)
	}
}

// Renewing the claim while its transaction is open neither blocks nor
// breaks the commit (the transaction touches the record only at the end).
func TestTxRenewWhileOpen(t *testing.T) {
	p := pool(t)
	s := newStore(t, p, pgstore.Config{})
	ctx := context.Background()
	// Renewals keep the claim alive past the first lease: 1.5 s of renewals
	// every 250 ms, each with over a second of slack against the stalls of
	// a loaded machine.
	const lease, every, renewals = 1400 * time.Millisecond, 250 * time.Millisecond, 6
	tok := claim(t, s, "k", lease)
	_, tx, err := s.Begin(ctx, "k", tok)
	if err != nil {
		t.Fatal(err)
	}
	for range renewals {
		time.Sleep(every)
		if err := s.Renew(ctx, "k", tok, lease); err != nil {
			t.Fatalf("Renew while the transaction is open: %v", err)
		}
	}
	if err := tx.Commit(ctx, created, time.Hour); err != nil {
		t.Fatalf("Commit after renewals: %v", err)
	}
}

func TestTxHandlerErrorAbortsTheCommit(t *testing.T) {
	p := pool(t)
	s := newStore(t, p, pgstore.Config{})
	table := ledger(t, p)
	ctx := context.Background()
	tok := claim(t, s, "k", time.Minute)
	hctx, tx, err := s.Begin(ctx, "k", tok)
	if err != nil {
		t.Fatal(err)
	}
	handlerWrite(t, hctx, table, "a")
	h, _ := pgstore.TxFromContext(hctx)
	// A failed statement the handler ignores aborts the transaction.
	if _, err := h.Exec(ctx, "INSERT INTO "+table+" (id, amount) VALUES ('a', 1)"); err == nil {
		t.Fatal("duplicate insert: got no error")
	}
	err = tx.Commit(ctx, created, time.Hour)
	if err == nil || errors.Is(err, idempotency.ErrLeaseLost) {
		t.Fatalf("Commit of an aborted transaction: got %v, want a store error", err)
	}
	if n := rowsIn(t, p, table); n != 0 {
		t.Errorf("ledger rows: %d, want 0", n)
	}
	if rec, _, _ := s.Get(ctx, "k"); rec.State != idempotency.StateInProgress {
		t.Errorf("record: %v, want still in progress", rec.State)
	}
	if st := p.Stat(); st.AcquiredConns() != 0 {
		t.Errorf("connections still acquired: %d", st.AcquiredConns())
	}
}

func TestTxOptions(t *testing.T) {
	p := pool(t)
	s := newStore(t, p, pgstore.Config{TxOptions: pgx.TxOptions{IsoLevel: pgx.Serializable, AccessMode: pgx.ReadWrite}})
	ctx := context.Background()
	tok := claim(t, s, "k", time.Minute)
	hctx, tx, err := s.Begin(ctx, "k", tok)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := pgstore.TxFromContext(hctx)
	var iso string
	if err := h.QueryRow(ctx, "SHOW transaction_isolation").Scan(&iso); err != nil || iso != "serializable" {
		t.Errorf("isolation: %q %v, want serializable", iso, err)
	}
	if err := tx.Commit(ctx, created, time.Hour); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}
