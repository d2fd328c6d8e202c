package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/pgstore"
	"github.com/clipia/apiguard/internal/pgtest"
)

// A handler's connection killed before the commit: the commit fails with
// a store error (not a lost lease), nothing is committed, the claim stays
// until the guard releases it, and the pool serves the next requests.
func TestTxKilledConnection(t *testing.T) {
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
	h, _ := pgstore.TxFromContext(hctx)
	pid := h.Conn().PgConn().PID()
	var killed bool
	if err := p.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend: %v %v", killed, err)
	}
	err = tx.Commit(ctx, created, time.Hour)
	if err == nil || errors.Is(err, idempotency.ErrLeaseLost) {
		t.Fatalf("Commit on a killed connection: got %v, want a store error", err)
	}
	if n := rowsIn(t, p, table); n != 0 {
		t.Errorf("ledger rows: %d, want 0", n)
	}
	if rec, ok, err := s.Get(ctx, "k"); err != nil || !ok || rec.State != idempotency.StateInProgress {
		t.Fatalf("record after the failed commit: %+v %v %v, want in progress", rec, ok, err)
	}
	if err := s.Release(ctx, "k", tok); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if st := p.Stat(); st.AcquiredConns() != 0 {
		t.Errorf("connections still acquired: %d", st.AcquiredConns())
	}
	// The next request gets a live connection and commits.
	tok = claim(t, s, "k", time.Minute)
	hctx, tx, err = s.Begin(ctx, "k", tok)
	if err != nil {
		t.Fatal(err)
	}
	handlerWrite(t, hctx, table, "gen_2")
	if err := tx.Commit(ctx, created, time.Hour); err != nil {
		t.Fatalf("Commit on a fresh connection: %v", err)
	}
}

// Every connection of the store's pool killed: each call either fails with
// a store error or succeeds, and the store recovers by itself.
func TestStoreKilledConnections(t *testing.T) {
	p, _ := countingPool(t, pgtest.URL(t), 4)
	s := newStore(t, p, pgstore.Config{})
	ctx := context.Background()
	for i := range 4 {
		claim(t, s, fmt.Sprint("warm", i), time.Minute)
	}
	// The pool's connections, all of them.
	var pids []uint32
	var conns []interface{ Release() }
	for range 4 {
		c, err := p.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, c.Conn().PgConn().PID())
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}
	var n int
	if err := pool(t).QueryRow(ctx, "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM unnest($1::int[]) AS pid", pids).Scan(&n); err != nil || n != 4 {
		t.Fatalf("terminated %d of 4 connections: %v", n, err)
	}
	failures := 0
	for i := range 10 {
		_, err := s.Claim(ctx, fmt.Sprint("after", i), "fp", time.Minute)
		if err != nil {
			if errors.Is(err, idempotency.ErrLeaseLost) {
				t.Fatalf("Claim on a killed connection: got ErrLeaseLost, want a store error")
			}
			failures++
		}
	}
	t.Logf("%d of 10 claims failed after the kill", failures)
	// pgxpool finds a dead connection when it uses it; each dead one fails
	// at most one call.
	if failures > 4 {
		t.Errorf("%d of 10 claims failed after the connections were killed, want at most 4", failures)
	}
	if _, err := s.Claim(ctx, "last", "fp", time.Minute); err != nil {
		t.Fatalf("Claim after recovery: %v", err)
	}
}

// PostgreSQL stopped (immediate shutdown) and started again: calls fail
// fast with a store error while it is down, the store recovers without a
// new pool, and what was committed before the crash is still there.
func TestDatabaseRestart(t *testing.T) {
	srv := pgtest.Start(t)
	p := srv.Pool(t)
	// s has a short timeout, for the calls while the database is down. The
	// calls that must succeed go through live, on the same pool and table,
	// with a timeout that a loaded machine's stalls do not reach.
	s := newStore(t, p, pgstore.Config{Timeout: 500 * time.Millisecond})
	live, err := pgstore.New(p, pgstore.Config{Table: s.Table(), Timeout: 10 * time.Second, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(live.Close)
	ctx := context.Background()
	tok := claim(t, live, "done", time.Minute)
	if err := live.Commit(ctx, "done", tok, created, time.Hour); err != nil {
		t.Fatal(err)
	}
	running := claim(t, live, "running", time.Minute)

	srv.Stop()
	start := time.Now()
	for _, call := range []func() error{
		func() error { _, err := s.Claim(ctx, "new", "fp", time.Minute); return err },
		func() error { _, _, err := s.Get(ctx, "done"); return err },
		func() error { return s.Commit(ctx, "running", running, created, time.Hour) },
		func() error { _, _, err := s.Begin(ctx, "running", running); return err },
	} {
		if err := call(); err == nil || errors.Is(err, idempotency.ErrLeaseLost) {
			t.Errorf("call while the database is down: got %v, want a store error", err)
		}
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("calls while the database is down took %v, want each bounded by the timeout", d)
	}

	srv.Restart(t)
	var rec idempotency.Record
	// Connections cut by the shutdown fail once each, and a new one may
	// take longer than s's timeout to open on a loaded machine.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if rec, _, err = s.Get(ctx, "done"); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Get after the restart: %v", err)
	}
	if rec.State != idempotency.StateCompleted || string(rec.Response.Body) != string(created.Body) {
		t.Errorf("committed record after the crash: %+v", rec)
	}
	// live's claims pool has its own connections cut by the shutdown: each
	// fails one call, as s's did above.
	for {
		if _, _, err = live.Get(ctx, "done"); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err := live.Commit(ctx, "running", running, created, time.Hour); err != nil {
		t.Errorf("Commit of the claim that survived the crash: %v", err)
	}
}
