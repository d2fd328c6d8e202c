package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/idempotency/pgstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgLedgerSchema is the ledger's schema: the tenants' credits (never below
// zero, checked by the database too) and the generations. Applied under an
// advisory lock so that processes starting together do not race on the
// catalog.
const pgLedgerSchema = `
SELECT pg_advisory_xact_lock(hashtext('clipia.ledger.migrate'));
CREATE TABLE IF NOT EXISTS clipia_credits (
	tenant  text PRIMARY KEY,
	credits bigint NOT NULL CHECK (credits >= 0)
);
CREATE TABLE IF NOT EXISTS clipia_generations (
	id         text PRIMARY KEY,
	tenant     text NOT NULL,
	model      text NOT NULL,
	prompt     text NOT NULL,
	duration   integer NOT NULL,
	resolution text NOT NULL,
	cost       bigint NOT NULL,
	status     text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);`

// pgStatementTimeout bounds each statement of the ledger: a database that
// does not answer turns into a 503 within it, not a stalled request.
const pgStatementTimeout = 2 * time.Second

// pgLedger keeps the ledger in PostgreSQL, so that every process on the
// database shares balances and generations.
//
// hold only checks the balance; charge takes the cost with a conditional
// update (credits >= cost) and inserts the generation, in one statement.
// When the idempotency guard opened a transaction for the request
// (pgstore.TxFromContext), the statements run in it, so the charge, the
// generation and the stored response commit together: a replay never
// charges again, and a crash before the COMMIT leaves nothing behind.
// Without one (no Idempotency-Key) the charge statement commits on its
// own. A balance never goes below zero under any concurrency: the update
// is conditional and the row lock serialises the charges of one tenant
// (which also bounds one tenant's generations per second: the lock is
// held from the charge to the COMMIT).
// release has nothing to give back, since nothing is taken before charge.
//
// Every database error is returned as 503 service_unavailable whose cause
// (logged, never shown) is the pgx error, except a data exception, which
// no retry fixes (400 or 500, see unavailable); a request whose client is
// gone gets its context error.
type pgLedger struct {
	pool *pgxpool.Pool
	// ready reports whether the schema is in place; until then every
	// method answers 503.
	ready func() bool
}

// migratePGLedger creates the ledger's tables when missing and inserts the
// demo tenants that the database does not hold yet, with their starting
// credits: a process that starts later never resets a balance.
func migratePGLedger(ctx context.Context, pool *pgxpool.Pool, start map[string]int64) error {
	// Without arguments pgx sends the text as one simple query, one
	// implicit transaction that holds the advisory lock.
	if _, err := pool.Exec(ctx, pgLedgerSchema); err != nil {
		return fmt.Errorf("ledger schema: %w", err)
	}
	tenants := make([]string, 0, len(start))
	credits := make([]int64, 0, len(start))
	for t, c := range start {
		tenants = append(tenants, t)
		credits = append(credits, c)
	}
	if _, err := pool.Exec(ctx,
		`INSERT INTO clipia_credits (tenant, credits)
		 SELECT * FROM unnest($1::text[], $2::bigint[])
		 ON CONFLICT (tenant) DO NOTHING`, tenants, credits); err != nil {
		return fmt.Errorf("ledger tenants: %w", err)
	}
	return nil
}

// unavailable turns a database error into the 503 the client gets; the
// cause is logged by the renderer, never shown. A cancelled request keeps
// its context error (the client is gone; nothing is stored). A data
// exception (SQLSTATE class 22: a value the database cannot take) is
// permanent, so it answers its non-retryable row instead
// (pgstore.DataException: 400, or 500 for a fault of the statement).
func unavailable(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	cause := fmt.Errorf("ledger %s: %w", op, err)
	if e := pgstore.DataException(err); e != nil {
		return e.WithCause(cause)
	}
	return errorsx.ServiceUnavailable().WithCause(cause)
}

// errNotReady is the cause of the 503 answered before the schema exists.
var errNotReady = errors.New("database not reachable since start: schema not created yet")

// querier is what the ledger's statements run on: the request's
// transaction or the pool.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// on returns the request's transaction when the guard opened one, else the
// pool.
func (l *pgLedger) on(ctx context.Context) querier {
	if tx, ok := pgstore.TxFromContext(ctx); ok {
		return tx
	}
	return l.pool
}

func (l *pgLedger) balance(ctx context.Context, tenant string) (int64, error) {
	if !l.ready() {
		return 0, unavailable(ctx, "balance", errNotReady)
	}
	qctx, cancel := context.WithTimeout(ctx, pgStatementTimeout)
	defer cancel()
	var credits int64
	err := l.on(ctx).QueryRow(qctx, `SELECT credits FROM clipia_credits WHERE tenant = $1`, tenant).Scan(&credits)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, unavailable(ctx, "balance", err)
	}
	return credits, nil
}

func (l *pgLedger) hold(ctx context.Context, tenant string, cost int64) (bool, error) {
	credits, err := l.balance(ctx, tenant)
	return err == nil && credits >= cost, err
}

func (l *pgLedger) release(context.Context, string, int64) {}

func (l *pgLedger) charge(ctx context.Context, g generation) (bool, error) {
	if !l.ready() {
		return false, unavailable(ctx, "charge", errNotReady)
	}
	qctx, cancel := context.WithTimeout(ctx, pgStatementTimeout)
	defer cancel()
	// One statement, so one round trip and atomic on its own: the
	// conditional update takes the cost (and locks the tenant's row until
	// the transaction ends) and the insert records the generation only
	// when it did.
	tag, err := l.on(ctx).Exec(qctx, `WITH charged AS (
  UPDATE clipia_credits SET credits = credits - $7 WHERE tenant = $2 AND credits >= $7 RETURNING 1
)
INSERT INTO clipia_generations (id, tenant, model, prompt, duration, resolution, cost, status)
SELECT $1, $2, $3, $4, $5, $6, $7, $8 FROM charged`,
		g.ID, g.tenant, g.Model, g.Prompt, g.Duration, g.Resolution, g.Cost, g.Status)
	if err != nil {
		return false, unavailable(ctx, "charge", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (l *pgLedger) generation(ctx context.Context, tenant, id string) (generation, bool, error) {
	if !l.ready() {
		return generation{}, false, unavailable(ctx, "generation", errNotReady)
	}
	qctx, cancel := context.WithTimeout(ctx, pgStatementTimeout)
	defer cancel()
	g := generation{Object: "generation", tenant: tenant}
	err := l.on(ctx).QueryRow(qctx,
		`SELECT id, model, prompt, duration, resolution, cost, status FROM clipia_generations WHERE id = $1 AND tenant = $2`,
		id, tenant).Scan(&g.ID, &g.Model, &g.Prompt, &g.Duration, &g.Resolution, &g.Cost, &g.Status)
	if errors.Is(err, pgx.ErrNoRows) {
		return generation{}, false, nil
	}
	if err != nil {
		return generation{}, false, unavailable(ctx, "generation", err)
	}
	return g, true, nil
}

func (l *pgLedger) close() error { return nil }
