package pgstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/pgstore"
	"github.com/clipia/apiguard/internal/pgtest"
)

// Each step is one round trip once its statement is prepared (pgx prepares
// a statement on a connection the first time it runs there).
func TestOneRoundTripPerStep(t *testing.T) {
	p, writes := countingPool(t, pgtest.URL(t), 1)
	s := newStore(t, p, pgstore.Config{})
	table := ledger(t, pool(t))
	ctx := context.Background()
	resp := idempotency.Response{Status: 201, Body: []byte("ok")}

	cycle := func(i int) map[string]int64 {
		got := map[string]int64{}
		step := func(name string, f func() error) {
			t.Helper()
			before := writes.Load()
			if err := f(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got[name] = writes.Load() - before
		}
		key := fmt.Sprint("k", i)
		var tok string
		step("claim", func() error {
			r, err := s.Claim(ctx, key, "fp", time.Minute)
			tok = r.Token
			return err
		})
		step("renew", func() error { return s.Renew(ctx, key, tok, time.Minute) })
		step("get", func() error { _, _, err := s.Get(ctx, key); return err })
		step("commit", func() error { return s.Commit(ctx, key, tok, resp, time.Hour) })
		step("replay", func() error { _, err := s.Claim(ctx, key, "fp", time.Minute); return err })
		key2 := key + "tx"
		step("claim2", func() error {
			r, err := s.Claim(ctx, key2, "fp", time.Minute)
			tok = r.Token
			return err
		})
		var tx idempotency.Tx
		var hctx context.Context
		step("begin", func() error {
			var err error
			hctx, tx, err = s.Begin(ctx, key2, tok)
			return err
		})
		h, _ := pgstore.TxFromContext(hctx)
		if _, err := h.Exec(hctx, "INSERT INTO "+table+" (id, amount) VALUES ($1, 1)", key2); err != nil {
			t.Fatal(err)
		}
		step("txcommit", func() error { return tx.Commit(ctx, resp, time.Hour) })
		key3 := key + "rel"
		step("claim3", func() error {
			r, err := s.Claim(ctx, key3, "fp", time.Minute)
			tok = r.Token
			return err
		})
		step("release", func() error { return s.Release(ctx, key3, tok) })
		return got
	}
	cycle(0) // prepares the statements
	got := cycle(1)
	for step, n := range got {
		if n != 1 {
			t.Errorf("%s: %d round trips, want 1", step, n)
		}
	}
	t.Logf("round trips per step: %v", got)
}
