// Package pgstore is an [idempotency.Store] in PostgreSQL, shared by every
// process that uses the same database, and an [idempotency.TxStore]: a
// handler's own writes and its completed idempotency record commit in one
// database transaction, so "the handler charged" and "the record says
// completed" cannot be separated by a crash.
//
// Each record is one row of one table (default "apiguard_idempotency"; see
// [Schema] and schema.sql for the DDL, which [Store.Migrate] applies). Every
// step is one SQL statement, one round trip once its statement is prepared:
// Claim is a single INSERT … ON CONFLICT that creates the record, takes over
// an expired one or returns the live one; Commit, Release and Renew are
// fenced UPDATE or DELETE statements (the token must still own an unexpired
// in-progress row); Get is one SELECT. Leases and retention are measured by
// the database's clock, never the application's, so servers with skewed
// clocks agree. Dead rows are invisible at once and deleted by [Store.Sweep]
// in bounded batches, by default every minute in the background.
//
//	pool, err := pgxpool.New(ctx, "postgres://app@127.0.0.1:5432/app")
//	store, err := pgstore.New(pool, pgstore.Config{})
//	err = store.Migrate(ctx) // or hand schema.sql to your migration tool
//	defer store.Close()
//	cfg := idempotency.Config{Store: store}
//
// # Transactions
//
// When the guard runs a handler, it calls [Store.Begin], which opens a
// transaction on a connection of the pool; the handler reaches it with
// [TxFromContext] and does its writes in it. If the handler's response is
// stored, [Tx.Commit] marks the record completed with the response and
// commits the handler's writes in the same round trip, fenced like
// [Store.Commit]: when the claim was lost (lease expired, key taken over),
// nothing is committed and it returns [idempotency.ErrLeaseLost]. Otherwise
// the guard calls [Tx.Rollback], which discards the writes.
//
// Errors wrap their cause (pgx and PostgreSQL errors, which carry no SQL
// text); the guard answers a failing store with 503 service_unavailable and
// never shows the error to the client.
package pgstore

import (
	"context"
	"crypto/rand"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/clipia/apiguard/idempotency"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultTable is the table used when Config.Table is empty.
const DefaultTable = "apiguard_idempotency"

// Defaults of [Config].
const (
	DefaultTimeout       = time.Second
	DefaultSweepInterval = time.Minute
	DefaultSweepBatch    = 1000
	DefaultClaimConns    = 4
)

// schemaSQL is the DDL of the default table, as shipped in schema.sql.
//
//go:embed schema.sql
var schemaSQL string

// defaultIndex is the index name in schema.sql.
const defaultIndex = DefaultTable + "_expires_idx"

// tableName is an optionally schema-qualified lower-case SQL identifier.
var tableName = regexp.MustCompile(`^(?:[a-z_][a-z0-9_]{0,47}\.)?[a-z_][a-z0-9_]{0,47}$`)

// Schema returns the DDL that creates the table named table and its index
// (CREATE … IF NOT EXISTS, so applying it twice is harmless): schema.sql
// with the table name replaced. Empty means [DefaultTable]. A table name is
// lower-case letters, digits and underscores, not starting with a digit, at
// most 48 characters, optionally qualified by a schema name of the same
// form ("billing.idempotency"); anything else is an error.
func Schema(table string) (string, error) {
	if table == "" {
		return schemaSQL, nil
	}
	if !tableName.MatchString(table) {
		return "", fmt.Errorf("pgstore: invalid table name %q: want lower-case letters, digits and underscores, optionally schema-qualified", table)
	}
	index := table[strings.LastIndexByte(table, '.')+1:] + "_expires_idx"
	const mark = "\x00index\x00"
	s := strings.ReplaceAll(schemaSQL, defaultIndex, mark)
	s = strings.ReplaceAll(s, DefaultTable, table)
	return strings.ReplaceAll(s, mark, index), nil
}

// Config configures [New]. The zero value is valid.
type Config struct {
	// Table is the table holding the records. Empty means [DefaultTable].
	// See [Schema] for the names accepted. Give each application its own
	// table when they share a database.
	Table string

	// Timeout bounds each store call (one statement; for [Tx.Commit], the
	// fenced update and the COMMIT). Zero means [DefaultTimeout] (one
	// second). A claim that times out answers 503 and its handler does not
	// run. Negative is an error.
	Timeout time.Duration

	// SweepInterval is how often the background sweeper deletes dead rows
	// (expired leases and retention). Zero means [DefaultSweepInterval] (one
	// minute); negative disables the background sweeper (call
	// [Store.Sweep] yourself). Dead rows are never returned either way:
	// the sweep only frees space.
	SweepInterval time.Duration

	// SweepBatch is the most rows one DELETE of the sweep removes, so that
	// no sweep statement holds many locks or runs long. Zero means
	// [DefaultSweepBatch] (1000). Negative is an error.
	SweepBatch int

	// TxOptions are the options of the transactions [Store.Begin] opens
	// for handlers. The zero value is the database's default isolation
	// (read committed unless changed). With repeatable read or
	// serializable, a Renew of the claim while the handler runs makes the
	// final commit fail with a serialization error (the record row changed
	// under the snapshot), so keep handlers under a third of the lease or
	// use read committed.
	TxOptions pgx.TxOptions

	// Logger receives background sweep failures. Nil means
	// slog.Default().
	Logger *slog.Logger

	// ClaimConns is the size of the store's own small pool for its short
	// statements: Claim, Renew, Release, Commit, Get and the sweep. The
	// pool given to New then only serves the handlers' transactions
	// ([Store.Begin]), each of which holds one connection while its
	// handler runs, so a full pool never makes a lease renewal wait behind
	// the transactions it keeps alive (and lose its claim). The small pool
	// has the configuration of the one given to New (pool.Config()), with
	// MaxConns set to ClaimConns and no connection opened ahead; Close
	// closes it. Zero means [DefaultClaimConns] (4): each statement is one
	// short round trip, and a renewal comes once per lease/3 per request
	// in flight. Negative means no own pool: every statement uses the
	// pool given to New, as before (then keep that pool larger than the
	// requests in flight). Ignored when ClaimPool is set.
	//
	// A process thus needs at most pool's MaxConns + ClaimConns
	// connections: one per guarded request in flight plus ClaimConns.
	ClaimConns int32

	// ClaimPool, when set, is the pool of the short statements instead of
	// one the store opens (see ClaimConns). The caller owns it; Close does
	// not close it. It must not be the pool given to New, or renewals
	// compete with the transactions again.
	ClaimPool *pgxpool.Pool
}

// Store is the PostgreSQL store. It is safe for concurrent use. The pool
// given to [New] belongs to the caller; [Store.Close] stops the background
// sweeper and closes the store's own claims pool (Config.ClaimConns).
type Store struct {
	pool      *pgxpool.Pool // the handlers' transactions (Begin), Migrate
	claims    *pgxpool.Pool // the short statements; pool when ClaimConns < 0
	ownClaims bool          // claims was opened by New: Close closes it
	table     string
	timeout   time.Duration
	batch     int
	txOptions pgx.TxOptions
	log       *slog.Logger

	sqlClaim, sqlCommit, sqlTxCommit, sqlRelease, sqlRenew, sqlGet, sqlSweep string

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// Name returns "postgres", the store's name in apiguard.store.duration.
func (s *Store) Name() string { return "postgres" }

var (
	_ idempotency.Store   = (*Store)(nil)
	_ idempotency.TxStore = (*Store)(nil)
)

// New returns a store on pool. It does no I/O: create the table with
// [Store.Migrate] or your own migrations ([Schema]). Unless
// Config.ClaimConns is negative or Config.ClaimPool is set, it opens the
// store's small claims pool (no connection until the first statement).
// Unless Config.SweepInterval is negative it starts a background sweeper.
// [Store.Close] stops the one and closes the other. It returns an error
// when pool is nil or cfg is invalid (a bad table name, a negative Timeout
// or SweepBatch, ClaimPool the same as pool).
func New(pool *pgxpool.Pool, cfg Config) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgstore: nil pool")
	}
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if _, err := Schema(cfg.Table); err != nil {
		return nil, err
	}
	if cfg.Timeout < 0 {
		return nil, errors.New("pgstore: negative Timeout")
	}
	if cfg.SweepBatch < 0 {
		return nil, errors.New("pgstore: negative SweepBatch")
	}
	if cfg.ClaimPool == pool {
		return nil, errors.New("pgstore: ClaimPool is the pool given to New; leave it nil, or set ClaimConns negative to share the pool")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.SweepBatch == 0 {
		cfg.SweepBatch = DefaultSweepBatch
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Store{
		pool: pool, claims: cfg.ClaimPool, table: cfg.Table, timeout: cfg.Timeout, batch: cfg.SweepBatch,
		txOptions: cfg.TxOptions, log: cfg.Logger,
	}
	switch {
	case s.claims != nil:
	case cfg.ClaimConns < 0:
		s.claims = pool
	default:
		pc := pool.Config()
		pc.MaxConns = cfg.ClaimConns
		if pc.MaxConns == 0 {
			pc.MaxConns = DefaultClaimConns
		}
		pc.MinConns, pc.MinIdleConns = 0, 0 // no I/O here, nothing held while idle
		claims, err := pgxpool.NewWithConfig(context.Background(), pc)
		if err != nil {
			return nil, fmt.Errorf("pgstore: claims pool: %w", err)
		}
		s.claims, s.ownClaims = claims, true
	}
	s.prepareSQL()
	if cfg.SweepInterval > 0 {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.sweeper(cfg.SweepInterval)
	}
	return s, nil
}

// Table returns the name of the table holding the records.
func (s *Store) Table() string { return s.table }

// Migrate creates the table and its index when they do not exist ([Schema]
// of Config.Table), in one transaction under an advisory lock, so that
// processes starting together do not race. It needs the CREATE privilege;
// teams that manage their schema elsewhere apply schema.sql themselves and
// never call it.
func (s *Store) Migrate(ctx context.Context) error {
	ddl, _ := Schema(s.table) // validated by New
	// Without arguments pgx sends the text as one simple query: the
	// statements run in one implicit transaction, which holds the lock.
	q := "SELECT pg_advisory_xact_lock(hashtext('apiguard.pgstore.migrate'));\n" + ddl
	if _, err := s.pool.Exec(ctx, q); err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	return nil
}

// Close stops the background sweeper: it waits for a sweep statement in
// progress to end (each is bounded by Config.Timeout), and no sweep
// statement starts after it returns. Then it closes the store's own claims
// pool (Config.ClaimConns), so call it after the last request: a store call
// after Close fails. It does not close the pool given to New, nor
// Config.ClaimPool. It is safe to call more than once.
func (s *Store) Close() {
	s.closeOnce.Do(func() {
		if s.stop != nil {
			close(s.stop)
			<-s.done
		}
		if s.ownClaims {
			s.claims.Close()
		}
	})
}

// Columns of a returned record, then the database's now(): the expiry is
// converted to local time by the difference, so clock skew does not matter.
const recordCols = `state, fingerprint, token, expires_at, response`

func (s *Store) prepareSQL() {
	t := s.table
	// Claim: a live row visible to the statement's snapshot is returned
	// without writing (a replay costs no write). Otherwise the INSERT
	// creates the row, or, on a conflict with a row inserted concurrently
	// or an expired one, updates it: an expired row is taken over, a live
	// one is left as it is. ON CONFLICT DO UPDATE locks and returns the
	// latest version of the row even when the snapshot cannot see it, which
	// a plain DO NOTHING or a second SELECT in the same statement would
	// not, so a losing concurrent claim always gets the winner's record.
	// The caller knows it claimed when the returned token is its own.
	s.sqlClaim = `WITH cur AS (
  SELECT ` + recordCols + ` FROM ` + t + ` WHERE key = $1 AND expires_at > now()
), ins AS (
  INSERT INTO ` + t + ` AS r (key, state, fingerprint, token, expires_at)
  SELECT $1, 1, $2, $3, now() + $4::bigint * interval '1 microsecond'
  WHERE NOT EXISTS (SELECT FROM cur)
  ON CONFLICT (key) DO UPDATE SET
    state       = CASE WHEN r.expires_at <= now() THEN 1 ELSE r.state END,
    fingerprint = CASE WHEN r.expires_at <= now() THEN excluded.fingerprint ELSE r.fingerprint END,
    token       = CASE WHEN r.expires_at <= now() THEN excluded.token ELSE r.token END,
    response    = CASE WHEN r.expires_at <= now() THEN NULL ELSE r.response END,
    expires_at  = CASE WHEN r.expires_at <= now() THEN excluded.expires_at ELSE r.expires_at END
  RETURNING ` + recordCols + `
)
SELECT ` + recordCols + `, now() FROM cur
UNION ALL
SELECT ` + recordCols + `, now() FROM ins`

	// The fencing shared by commit, release and renew: the token must own
	// an in-progress row whose lease has not ended.
	const owned = `key = $1 AND token = $2 AND state = 1 AND expires_at > now()`
	s.sqlCommit = `UPDATE ` + t + ` SET state = 2, response = $3,
  expires_at = now() + $4::bigint * interval '1 microsecond' WHERE ` + owned
	s.sqlRelease = `DELETE FROM ` + t + ` WHERE ` + owned
	s.sqlRenew = `UPDATE ` + t + ` SET expires_at = now() + $3::bigint * interval '1 microsecond' WHERE ` + owned

	// The commit inside a handler's transaction: now() would be the start
	// of the transaction, so the lease is checked against the time the
	// statement arrives. When the token lost the row, the division by zero
	// fails the statement, which aborts the transaction, so the COMMIT sent
	// in the same round trip commits nothing.
	s.sqlTxCommit = `WITH u AS (
  UPDATE ` + t + ` SET state = 2, response = $3,
    expires_at = statement_timestamp() + $4::bigint * interval '1 microsecond'
  WHERE key = $1 AND token = $2 AND state = 1 AND expires_at > statement_timestamp()
  RETURNING 1
)
SELECT 1 / (SELECT count(*)::int FROM u)`

	s.sqlGet = `SELECT ` + recordCols + `, now() FROM ` + t + ` WHERE key = $1 AND expires_at > now()`

	// Sweep: rows locked by a claim taking them over are skipped, and the
	// expiry is checked again on the latest version of each locked row.
	s.sqlSweep = `DELETE FROM ` + t + ` WHERE key IN (
  SELECT key FROM ` + t + ` WHERE expires_at <= now()
  ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
) AND expires_at <= now()`
}

// storeError wraps err, the failure of the store's statement op. A data
// exception (SQLSTATE class 22, see [DataException]) cannot be fixed by a
// retry: it is returned as its non-retryable *errorsx.Error, which the
// idempotency guard answers instead of 503.
func storeError(op string, err error) error {
	wrapped := fmt.Errorf("pgstore: %s: %w", op, err)
	if e := DataException(err); e != nil {
		return e.WithCause(wrapped)
	}
	return wrapped
}

// micros converts d to whole microseconds, at least 1, for the interval
// arithmetic of the statements.
func micros(d time.Duration) int64 {
	us := int64((d + time.Microsecond - 1) / time.Microsecond)
	if us < 1 {
		us = 1
	}
	return us
}

// row scans one record and the database's now().
func scanRecord(row pgx.Row) (idempotency.Record, error) {
	var (
		state     int16
		rec       idempotency.Record
		exp, now  time.Time
		response  []byte
		localTime = time.Now()
	)
	if err := row.Scan(&state, &rec.Fingerprint, &rec.Token, &exp, &response, &now); err != nil {
		return idempotency.Record{}, err
	}
	switch state {
	case 1:
		rec.State = idempotency.StateInProgress
	case 2:
		rec.State = idempotency.StateCompleted
		if response == nil {
			return idempotency.Record{}, errors.New("completed record without a response")
		}
		var r idempotency.Response
		if err := r.UnmarshalBinary(response); err != nil {
			return idempotency.Record{}, err
		}
		rec.Response = &r
	default:
		return idempotency.Record{}, fmt.Errorf("unknown record state %d", state)
	}
	rec.ExpiresAt = localTime.Add(exp.Sub(now))
	return rec, nil
}

// Claim implements [idempotency.Store.Claim] in one statement.
func (s *Store) Claim(ctx context.Context, key, fingerprint string, lease time.Duration) (idempotency.ClaimResult, error) {
	token := rand.Text()
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rec, err := scanRecord(s.claims.QueryRow(ctx, s.sqlClaim, []byte(key), fingerprint, token, micros(lease)))
	if err != nil {
		return idempotency.ClaimResult{}, storeError("claim", err)
	}
	if rec.Token == token {
		return idempotency.ClaimResult{Claimed: true, Token: token}, nil
	}
	return idempotency.ClaimResult{Record: rec}, nil
}

// exec runs one fenced statement and maps "no row" to ErrLeaseLost.
func (s *Store) exec(ctx context.Context, op, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	tag, err := s.claims.Exec(ctx, sql, args...)
	if err != nil {
		return storeError(op, err)
	}
	if tag.RowsAffected() != 1 {
		return idempotency.ErrLeaseLost
	}
	return nil
}

// Commit implements [idempotency.Store.Commit] in one statement.
func (s *Store) Commit(ctx context.Context, key, token string, resp idempotency.Response, retention time.Duration) error {
	blob, err := resp.MarshalBinary()
	if err != nil {
		return fmt.Errorf("pgstore: commit: %w", err)
	}
	return s.exec(ctx, "commit", s.sqlCommit, []byte(key), token, blob, micros(retention))
}

// Release implements [idempotency.Store.Release] in one statement.
func (s *Store) Release(ctx context.Context, key, token string) error {
	return s.exec(ctx, "release", s.sqlRelease, []byte(key), token)
}

// Renew implements [idempotency.Store.Renew] in one statement.
func (s *Store) Renew(ctx context.Context, key, token string, lease time.Duration) error {
	return s.exec(ctx, "renew", s.sqlRenew, []byte(key), token, micros(lease))
}

// Get implements [idempotency.Store.Get] in one statement.
func (s *Store) Get(ctx context.Context, key string) (idempotency.Record, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rec, err := scanRecord(s.claims.QueryRow(ctx, s.sqlGet, []byte(key)))
	if errors.Is(err, pgx.ErrNoRows) {
		return idempotency.Record{}, false, nil
	}
	if err != nil {
		return idempotency.Record{}, false, fmt.Errorf("pgstore: get: %w", err)
	}
	return rec, true, nil
}

// Sweep deletes the dead rows (leases and retentions that have ended) in
// DELETE statements of at most Config.SweepBatch rows each, until a batch
// finds fewer or ctx ends, and returns how many rows it deleted. Rows being
// taken over by a concurrent claim are skipped, so sweepers in several
// processes do not block each other or the requests. Each statement is
// bounded by Config.Timeout.
func (s *Store) Sweep(ctx context.Context) (int, error) { return s.sweep(ctx, nil) }

// sweep is Sweep, which also ends before its next statement once stop is
// closed (a nil stop never is).
func (s *Store) sweep(ctx context.Context, stop <-chan struct{}) (int, error) {
	total := 0
	for {
		select {
		case <-stop:
			return total, nil
		default:
		}
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("pgstore: sweep: %w", err)
		}
		cctx, cancel := context.WithTimeout(ctx, s.timeout)
		tag, err := s.claims.Exec(cctx, s.sqlSweep, s.batch)
		cancel()
		if err != nil {
			return total, fmt.Errorf("pgstore: sweep: %w", err)
		}
		n := int(tag.RowsAffected())
		total += n
		if n < s.batch {
			return total, nil
		}
	}
}

// sweeper sweeps every interval until Close, which does not cancel the
// statement in progress but waits for it: a cancelled statement can still
// run in the database after its caller gave up, a sweep after Close
// returned.
func (s *Store) sweeper(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if _, err := s.sweep(context.Background(), s.stop); err != nil {
				s.log.Warn("pgstore: sweep failed; retrying at the next interval", "table", s.table, "error", err)
			}
		}
	}
}
