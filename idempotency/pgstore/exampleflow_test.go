package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/pgstore"
	"github.com/jackc/pgx/v5/pgxpool"
)

// guarded runs handler as the idempotency guard does with a TxStore: claim,
// Begin, the handler with the transaction's context, then Commit of the
// captured response (2xx and 4xx) or Rollback and Release (5xx). It returns
// the status and body the client gets.
func guarded(t *testing.T, s *pgstore.Store, key, body string, handler http.Handler) (int, string) {
	t.Helper()
	ctx := context.Background()
	r, err := s.Claim(ctx, key, body, time.Minute)
	if err != nil {
		t.Errorf("Claim: %v", err)
		return 503, ""
	}
	if !r.Claimed {
		if r.Record.State == idempotency.StateInProgress {
			return 409, "in progress"
		}
		return r.Record.Response.Status, string(r.Record.Response.Body)
	}
	hctx, tx, err := s.Begin(ctx, key, r.Token)
	if err != nil {
		t.Errorf("Begin: %v", err)
		return 503, ""
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/v1/charges", strings.NewReader(body)).WithContext(hctx)
	handler.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		if err := tx.Rollback(ctx); err != nil {
			t.Errorf("Rollback: %v", err)
		}
		if err := s.Release(ctx, key, r.Token); err != nil {
			t.Errorf("Release: %v", err)
		}
		return rec.Code, rec.Body.String()
	}
	resp := idempotency.Response{Status: rec.Code, Header: rec.Header().Clone(), Body: rec.Body.Bytes()}
	if err := tx.Commit(ctx, resp, time.Hour); err != nil {
		if !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Errorf("Commit: %v", err)
		}
		return 503, ""
	}
	return rec.Code, rec.Body.String()
}

func exampleTables(t *testing.T, p *pgxpool.Pool, balance int) {
	t.Helper()
	ctx := context.Background()
	if _, err := p.Exec(ctx, exampleSchema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Exec(ctx, "DROP TABLE IF EXISTS example_accounts, example_charges") })
	if _, err := p.Exec(ctx, "TRUNCATE example_accounts, example_charges"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Exec(ctx, "INSERT INTO example_accounts VALUES ('acct_1', $1)", balance); err != nil {
		t.Fatal(err)
	}
}

func balanceAndCharges(t *testing.T, p *pgxpool.Pool) (int, int) {
	t.Helper()
	var b, n int
	if err := p.QueryRow(context.Background(),
		"SELECT (SELECT balance FROM example_accounts WHERE id = 'acct_1'), (SELECT count(*) FROM example_charges)").Scan(&b, &n); err != nil {
		t.Fatal(err)
	}
	return b, n
}

// The Example's flow against the real database.
func TestExampleFlow(t *testing.T) {
	p := pool(t)
	s := newStore(t, p, pgstore.Config{})
	exampleTables(t, p, 10)
	h := createCharge()

	body := `{"account":"acct_1","amount":3}`
	code, first := guarded(t, s, "key-1", body, h)
	if code != 201 {
		t.Fatalf("first charge: %d %s", code, first)
	}
	code, again := guarded(t, s, "key-1", body, h)
	if code != 201 || again != first {
		t.Errorf("retry: %d %q, want the replay %q", code, again, first)
	}
	if b, n := balanceAndCharges(t, p); b != 7 || n != 1 {
		t.Errorf("after a charge and its retry: balance %d, %d charges; want 7 and 1", b, n)
	}
	code, body402 := guarded(t, s, "key-2", `{"account":"acct_1","amount":50}`, h)
	if code != http.StatusPaymentRequired {
		t.Errorf("overdraft: %d %s, want 402", code, body402)
	}
	if b, n := balanceAndCharges(t, p); b != 7 || n != 1 {
		t.Errorf("after a refused charge: balance %d, %d charges; want 7 and 1", b, n)
	}
}

// Concurrent charges with distinct keys and duplicates of each: the balance
// never goes below zero and each key charges at most once.
func TestExampleFlowConcurrent(t *testing.T) {
	p := pool(t)
	s := newStore(t, p, pgstore.Config{})
	exampleTables(t, p, 5)
	h := createCharge()
	var created, refused atomic.Int32
	var wg sync.WaitGroup
	for k := range 8 {
		for range 3 { // three copies of each request
			wg.Go(func() {
				code, _ := guarded(t, s, fmt.Sprint("key-", k), `{"account":"acct_1","amount":1}`, h)
				switch code {
				case 201:
					created.Add(1)
				case 402:
					refused.Add(1)
				}
			})
		}
	}
	wg.Wait()
	b, n := balanceAndCharges(t, p)
	if b < 0 || n != 5-b || n > 8 {
		t.Fatalf("balance %d with %d charges, want balance = 5 - charges, never below zero", b, n)
	}
	if n != 5 {
		t.Errorf("charges: %d, want 5 (8 keys, balance 5)", n)
	}
	t.Logf("201: %d (replays included), 402: %d, charges %d", created.Load(), refused.Load(), n)
}
