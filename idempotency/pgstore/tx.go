package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/clipia/apiguard/idempotency"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrGuardOwnsTx is returned by Commit and Rollback of the transaction that
// [TxFromContext] hands to a handler: the guard ends that transaction,
// committing it together with the stored response. To undo part of the
// handler's work, open a savepoint with the transaction's Begin and roll
// that back; to undo all of it, answer with a response that is not stored
// (a 5xx).
var ErrGuardOwnsTx = errors.New("pgstore: the idempotency guard commits or rolls back this transaction")

// ErrTxDone is returned by the methods of the handler's transaction once
// the guard has committed or rolled it back.
var ErrTxDone = fmt.Errorf("pgstore: transaction already ended: %w", pgx.ErrTxClosed)

type ctxKey struct{}

// TxFromContext returns the transaction the guard opened for the request
// whose context is ctx ([Store.Begin]), and true; or nil and false when the
// request is not guarded by a pgstore [Store] (no Idempotency-Key, a
// replay, another store). Do the handler's writes in it: they commit with
// the stored response, or not at all. Its Commit and Rollback return
// [ErrGuardOwnsTx]; its Begin opens a savepoint. Do not keep it after the
// handler returns: its methods then return [ErrTxDone].
func TxFromContext(ctx context.Context) (pgx.Tx, bool) {
	t, ok := ctx.Value(ctxKey{}).(*handlerTx)
	if !ok {
		return nil, false
	}
	return t, true
}

// Begin implements [idempotency.TxStore.Begin]: it acquires a connection
// from the pool, opens a transaction on it with Config.TxOptions (one round
// trip) and returns ctx carrying it for [TxFromContext]. It does not check
// the claim: [Tx.Commit] does, atomically with the commit. The returned
// [idempotency.Tx] must be ended with Commit or Rollback, which give the
// connection back to the pool.
func (s *Store) Begin(ctx context.Context, key, token string) (context.Context, idempotency.Tx, error) {
	bctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	conn, err := s.pool.Acquire(bctx)
	if err != nil {
		return ctx, nil, fmt.Errorf("pgstore: begin: %w", err)
	}
	tx, err := conn.BeginTx(bctx, s.txOptions)
	if err != nil {
		conn.Release()
		return ctx, nil, fmt.Errorf("pgstore: begin: %w", err)
	}
	t := &Tx{s: s, key: key, token: token, conn: conn, h: &handlerTx{tx: tx}}
	return context.WithValue(ctx, ctxKey{}, t.h), t, nil
}

// Tx is the unit of work of one guarded request: the handler's transaction
// (see [TxFromContext]) and the fenced completion of its record. It
// implements [idempotency.Tx]. Commit and Rollback may be called from a
// goroutine other than the handler's, after the handler returned.
type Tx struct {
	s          *Store
	key, token string
	h          *handlerTx

	mu   sync.Mutex
	conn *pgxpool.Conn // nil once ended
}

// errLost is the SQLSTATE of the fenced update that found no owned row
// (division_by_zero, see sqlTxCommit).
const errLost = "22012"

// Commit implements [idempotency.Tx.Commit]: in one round trip it stores
// resp in the record, when the token given to Begin still owns an
// unexpired in-progress record, and COMMITs the handler's writes with it.
// When the handler's transaction has failed (one of its statements was
// refused, which aborts it) and resp is a 4xx, the handler's answer to
// that failure, the transaction is rolled back and resp is stored alone.
// When the token lost the record, the transaction is rolled back and
// Commit returns [idempotency.ErrLeaseLost]. Any other failure rolls back
// too and returns an error wrapping the cause, except that a connection
// lost while the COMMIT was in flight leaves the outcome unknown: the
// record then says which (completed, or still in progress until its lease
// ends). Commit after Commit or Rollback returns [ErrTxDone].
func (t *Tx) Commit(ctx context.Context, resp idempotency.Response, retention time.Duration) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == nil {
		return ErrTxDone
	}
	t.h.end()
	blob, err := resp.MarshalBinary()
	if err != nil {
		t.rollbackLocked(ctx)
		return fmt.Errorf("pgstore: commit: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, t.s.timeout)
	defer cancel()
	if t.conn.Conn().PgConn().TxStatus() == 'E' && resp.Status >= 400 && resp.Status < 500 {
		return t.commitAnswerOnly(cctx, blob, retention)
	}
	b := &pgx.Batch{}
	b.Queue(t.s.sqlTxCommit, []byte(t.key), t.token, blob, micros(retention))
	b.Queue("COMMIT")
	br := t.conn.SendBatch(cctx, b)
	_, errUpdate := br.Exec()
	tag, errCommit := br.Exec()
	errClose := br.Close()
	switch {
	case errUpdate != nil:
		t.rollbackLocked(ctx)
		var pgErr *pgconn.PgError
		if errors.As(errUpdate, &pgErr) && pgErr.Code == errLost {
			return idempotency.ErrLeaseLost
		}
		return fmt.Errorf("pgstore: commit: %w", errUpdate)
	case errCommit != nil:
		t.rollbackLocked(ctx)
		return fmt.Errorf("pgstore: commit: %w", errCommit)
	case errClose != nil:
		t.rollbackLocked(ctx)
		return fmt.Errorf("pgstore: commit: %w", errClose)
	case tag.String() != "COMMIT":
		// The server answered COMMIT with ROLLBACK: the transaction had
		// already failed. Unreachable after a successful update, kept as
		// a guard.
		t.rollbackLocked(ctx)
		return fmt.Errorf("pgstore: commit: %w", pgx.ErrTxCommitRollback)
	}
	t.conn.Release()
	t.conn = nil
	return nil
}

// commitAnswerOnly completes the record when the handler's transaction
// failed (a statement of it was refused, say a value the database cannot
// store) and the handler answered that with its own 4xx: the transaction
// can only roll back, and the answer is stored on its own, fenced as
// Store.Commit is. Without this the COMMIT of a failed transaction would
// turn the handler's non-retryable 4xx into a retryable 503 that no retry
// can fix. Two round trips (a failed transaction cannot prepare the
// statement of the second), on this rare path only.
func (t *Tx) commitAnswerOnly(ctx context.Context, blob []byte, retention time.Duration) error {
	if err := t.rollbackLocked(ctx); err != nil {
		return err
	}
	// The connection went back to the pool: the fenced commit is one
	// statement of its own, as Store.Commit.
	return t.s.exec(ctx, "commit", t.s.sqlCommit, []byte(t.key), t.token, blob, micros(retention))
}

// Rollback implements [idempotency.Tx.Rollback]: it discards the handler's
// writes and gives the connection back to the pool. It does not release
// the claim (that is [Store.Release]). After Commit or Rollback it does
// nothing and returns nil.
func (t *Tx) Rollback(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == nil {
		return nil
	}
	t.h.end()
	return t.rollbackLocked(ctx)
}

// rollbackLocked sends ROLLBACK and gives the connection back. A
// connection that cannot roll back is closed instead (the pool destroys a
// connection released inside a transaction), which rolls back as well.
func (t *Tx) rollbackLocked(ctx context.Context) error {
	conn := t.conn
	t.conn = nil
	defer conn.Release()
	if conn.Conn().PgConn().TxStatus() == 'I' {
		return nil
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.s.timeout)
	defer cancel()
	if _, err := conn.Exec(cctx, "ROLLBACK"); err != nil {
		_ = conn.Conn().Close(cctx)
		return fmt.Errorf("pgstore: rollback: %w", err)
	}
	return nil
}

// handlerTx is the transaction handed to the handler: the real one, minus
// Commit and Rollback, and closed for use once the guard ended it.
type handlerTx struct {
	tx pgx.Tx

	mu    sync.RWMutex
	ended bool
}

var _ pgx.Tx = (*handlerTx)(nil)

// end marks the transaction ended; it waits for calls in progress.
func (h *handlerTx) end() {
	h.mu.Lock()
	h.ended = true
	h.mu.Unlock()
}

// use runs f unless the transaction ended, holding it open meanwhile.
func (h *handlerTx) use() (func(), error) {
	h.mu.RLock()
	if h.ended {
		h.mu.RUnlock()
		return nil, ErrTxDone
	}
	return h.mu.RUnlock, nil
}

// Begin opens a savepoint (a pseudo nested transaction) that the handler
// may commit or roll back.
func (h *handlerTx) Begin(ctx context.Context) (pgx.Tx, error) {
	done, err := h.use()
	if err != nil {
		return nil, err
	}
	defer done()
	return h.tx.Begin(ctx)
}

// Commit returns ErrGuardOwnsTx: the guard commits.
func (h *handlerTx) Commit(context.Context) error { return ErrGuardOwnsTx }

// Rollback returns ErrGuardOwnsTx: the guard rolls back.
func (h *handlerTx) Rollback(context.Context) error { return ErrGuardOwnsTx }

func (h *handlerTx) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	done, err := h.use()
	if err != nil {
		return 0, err
	}
	defer done()
	return h.tx.CopyFrom(ctx, table, cols, src)
}

func (h *handlerTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	done, err := h.use()
	if err != nil {
		return errBatch{err}
	}
	defer done()
	// The results are read on the same connection after this returns;
	// reading them after the guard ended the transaction fails on the
	// connection's own state.
	return h.tx.SendBatch(ctx, b)
}

func (h *handlerTx) LargeObjects() pgx.LargeObjects { return h.tx.LargeObjects() }

func (h *handlerTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	done, err := h.use()
	if err != nil {
		return nil, err
	}
	defer done()
	return h.tx.Prepare(ctx, name, sql)
}

func (h *handlerTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	done, err := h.use()
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer done()
	return h.tx.Exec(ctx, sql, args...)
}

func (h *handlerTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	done, err := h.use()
	if err != nil {
		return nil, err
	}
	defer done()
	return h.tx.Query(ctx, sql, args...)
}

func (h *handlerTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	done, err := h.use()
	if err != nil {
		return errRow{err}
	}
	defer done()
	return h.tx.QueryRow(ctx, sql, args...)
}

// Conn returns the underlying connection. Statements sent on it directly
// bypass the checks of this transaction; never COMMIT or ROLLBACK on it.
func (h *handlerTx) Conn() *pgx.Conn { return h.tx.Conn() }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

type errBatch struct{ err error }

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b errBatch) QueryRow() pgx.Row                { return errRow(b) }
func (b errBatch) Close() error                     { return b.err }
func (b errBatch) Tx() pgx.Tx                       { return nil }
