package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/pgstore"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults of the PostgreSQL pool of -postgres, unless the URL sets them
// (connect_timeout, pool_max_conns).
const (
	// pgConnectTimeout bounds one connection attempt, so that an
	// unreachable database answers 503 quickly instead of stalling.
	pgConnectTimeout = 2 * time.Second
	// pgMaxConns bounds the pool. A guarded generation holds one connection
	// (its transaction) from its claim to its commit, work included, so
	// this is also how many guarded generations a process runs at once;
	// more wait for a connection up to the store's timeout
	// (pgStatementTimeout, 2s), their claims kept alive meanwhile, then
	// answer 503 with Retry-After. The idempotency store's claims,
	// renewals and releases use its own pool of pgstore.DefaultClaimConns
	// (4) connections, so they never wait behind the transactions: a
	// process opens at most pgMaxConns + 4 = 68 connections.
	pgMaxConns = 64
	// pgMinConns is how many connections the pool keeps open.
	pgMinConns = 8
	// pgRetryEvery is how often the schema is retried while the database
	// has been unreachable since start.
	pgRetryEvery = time.Second
)

// pgBackend is what -postgres opens: the pool, the idempotency store (nil
// when Config.IdempotencyStore replaces it) and the ledger, with the
// schema set up at start or, when the database is unreachable then, in the
// background as soon as it is back.
type pgBackend struct {
	pool   *pgxpool.Pool
	store  *pgstore.Store
	ledger *pgLedger

	ready atomic.Bool
	stop  chan struct{}
	done  sync.WaitGroup
}

// newPGPool returns a pool on url with a short connect timeout, pinged
// health checks and room for the app's concurrency. It does no I/O.
func newPGPool(url string) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = pgConnectTimeout
	}
	if !strings.Contains(url, "pool_max_conns") {
		pc.MaxConns = pgMaxConns
	}
	// Idle connections that a restart of the database cut are found by
	// the ping on acquire (after a second idle) and by this check.
	pc.HealthCheckPeriod = 5 * time.Second
	// A few connections are opened in the background at start, so that
	// the first requests do not all wait for a new one (a connection takes
	// tens of milliseconds to open).
	if !strings.Contains(url, "pool_min_conns") {
		pc.MinConns = pgMinConns
	}
	pc.PingTimeout = time.Second
	return pgxpool.NewWithConfig(context.Background(), pc)
}

// newPGBackend connects to the PostgreSQL of cfg.PostgresURL and sets up
// the idempotency table (unless cfg.IdempotencyStore is given) and the
// ledger's tables and demo tenants. An unreachable database is logged, not
// an error: the guarded routes answer 503 until it is reachable, and the
// schema is retried every second meanwhile; ctx bounds the first try.
func newPGBackend(ctx context.Context, cfg Config, logger *slog.Logger) (*pgBackend, error) {
	pool, err := newPGPool(cfg.PostgresURL)
	if err != nil {
		// pgx's parse errors do not repeat the password.
		return nil, fmt.Errorf("-postgres: %w", err)
	}
	b := &pgBackend{pool: pool, stop: make(chan struct{})}
	if cfg.IdempotencyStore == nil {
		b.store, err = pgstore.New(pool, pgstore.Config{Timeout: pgStatementTimeout, Logger: logger})
		if err != nil {
			pool.Close()
			return nil, err
		}
	}
	b.ledger = &pgLedger{pool: pool, ready: b.ready.Load}
	start := startCredits(cfg.Credits)
	setup := func(ctx context.Context) error {
		if b.store != nil {
			if err := b.store.Migrate(ctx); err != nil {
				return err
			}
		}
		return migratePGLedger(ctx, pool, start)
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = setup(sctx)
	cancel()
	if err == nil {
		b.ready.Store(true)
		return b, nil
	}
	logger.Warn("postgres not reachable at start; answering 503 until it is", "error", err.Error())
	b.done.Add(1)
	go func() {
		defer b.done.Done()
		t := time.NewTicker(pgRetryEvery)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := setup(sctx)
			cancel()
			if err == nil {
				b.ready.Store(true)
				logger.Info("postgres reachable: schema ready")
				return
			}
		}
	}()
	return b, nil
}

// idempotencyStore returns the store for the guard: the pgstore when the
// backend made one.
func (b *pgBackend) idempotencyStore() idempotency.Store {
	if b.store == nil {
		return nil
	}
	return b.store
}

// close stops the schema retries and the store's sweeper, then closes the
// pool.
func (b *pgBackend) close() error {
	close(b.stop)
	b.done.Wait()
	if b.store != nil {
		b.store.Close()
	}
	b.pool.Close()
	return nil
}
