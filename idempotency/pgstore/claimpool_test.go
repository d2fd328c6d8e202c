package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/pgstore"
	"github.com/clipia/apiguard/internal/pgtest"
)

// TestFullPoolKeepsEveryClaim runs as many keyed generations at once as
// the pool has connections, each holding its transaction's connection for
// longer than the lease: every lease renewal goes through the store's own
// claims pool, so none waits behind the transactions and none is lost.
// Every generation succeeds and is charged once; each replays without a
// second charge.
//
// Each handler runs until the database shows every record's expiry past
// three leases from the start: renewed after the end of its first lease,
// or completed by a handler that saw the same (a completed record lives
// for the retention). Or until its context ends: its claim was lost.
func TestFullPoolKeepsEveryClaim(t *testing.T) {
	const n = 4
	const lease = 300 * time.Millisecond
	p, _ := countingPool(t, pgtest.URL(t), n)
	warm(t, p, n)
	s := newStore(t, p, pgstore.Config{Timeout: time.Second})
	table := ledger(t, pool(t))
	watch := pool(t) // the test's own connections, not the store's
	ctx := context.Background()
	var t0 time.Time
	if err := watch.QueryRow(ctx, "SELECT now()").Scan(&t0); err != nil {
		t.Fatal(err)
	}
	g, err := idempotency.New(idempotency.Config{Store: s, Lease: lease, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	renderer := errorsx.NewRenderer(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	var replaying atomic.Bool
	handler := func(w http.ResponseWriter, r *http.Request) error {
		if replaying.Load() {
			t.Error("a replay ran the handler again")
			return errorsx.Internal()
		}
		tx, ok := pgstore.TxFromContext(r.Context())
		if !ok {
			return errorsx.Internal().WithCause(errors.New("no transaction"))
		}
		key := r.Header.Get("Idempotency-Key")
		if _, err := tx.Exec(r.Context(), "INSERT INTO "+table+" (id, amount) VALUES ($1, 5)", key); err != nil {
			return errorsx.Internal().WithCause(err)
		}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		giveUp := time.Now().Add(30 * time.Second) // only when something is broken
		for {
			if time.Now().After(giveUp) {
				return errorsx.Internal().WithCause(errors.New("the claims were not renewed"))
			}
			var renewed int
			if err := watch.QueryRow(r.Context(), "SELECT count(*) FROM "+s.Table()+" WHERE expires_at > $1",
				t0.Add(3*lease)).Scan(&renewed); err != nil {
				return err // the request's context ended: the claim was lost
			}
			if renewed == n {
				break
			}
			select {
			case <-r.Context().Done():
				return context.Cause(r.Context())
			case <-tick.C:
			}
		}
		w.WriteHeader(http.StatusCreated)
		return nil
	}
	send := func(key string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v1/generations", strings.NewReader(`{"prompt":"x"}`))
		req.Header.Set("Idempotency-Key", key)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		c := &testCall{route: "/v1/generations", next: handler, render: renderer}
		if err := g.Serve(rec, req, c); err != nil && !errorsx.IsRendered(err) {
			c.Render(rec, req, err)
		}
		return rec
	}
	var wg sync.WaitGroup
	got := make([]*httptest.ResponseRecorder, n)
	for i := range n {
		wg.Go(func() { got[i] = send(fmt.Sprint("gen-", i)) })
	}
	wg.Wait()
	for i, rec := range got {
		if rec.Code != http.StatusCreated {
			t.Errorf("generation %d: got %d %s, want 201", i, rec.Code, rec.Body)
		}
	}
	if c := rowsIn(t, watch, table); c != n {
		t.Errorf("got %d charges, want %d", c, n)
	}
	replaying.Store(true)
	for i := range n {
		if rec := send(fmt.Sprint("gen-", i)); rec.Code != http.StatusCreated || rec.Header().Get("Idempotent-Replayed") != "true" {
			t.Errorf("replay %d: got %d (replayed %q)", i, rec.Code, rec.Header().Get("Idempotent-Replayed"))
		}
	}
	if c := rowsIn(t, watch, table); c != n {
		t.Errorf("after the replays: got %d charges, want %d", c, n)
	}
}
