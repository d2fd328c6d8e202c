package idempotency

import (
	"context"
	"time"
)

// TxStore is a [Store] that can keep a request's response in the same
// transaction as the handler's own writes: the business writes and the
// completed record commit together or not at all, so a crash between "the
// handler charged" and "the record says completed" cannot exist.
//
// When the configured store is a TxStore, the guard calls Begin after a
// successful claim and runs the handler with the returned context (the
// store's package documents how a handler reaches its transaction). The
// guard holds the handler's response back until [Tx.Commit] succeeded, so a
// client never sees a success whose writes were rolled back; a response
// that is not stored (a 5xx, a 429, a panic, a cancelled request) ends with
// [Tx.Rollback] and the claim is released ([Guard.Serve] has the details).
type TxStore interface {
	Store
	// Begin opens the unit of work of the claimed record of key owned by
	// token, and returns a context carrying it to the handler.
	Begin(ctx context.Context, key, token string) (context.Context, Tx, error)
}

// Tx is one request's unit of work in a [TxStore].
type Tx interface {
	// Commit stores resp in the in-progress record owned by the token given
	// to Begin, marks it completed for retention, and commits the
	// handler's writes with it, atomically. It returns [ErrLeaseLost],
	// committing nothing, when the token no longer owns the record.
	Commit(ctx context.Context, resp Response, retention time.Duration) error
	// Rollback discards the handler's writes. It is safe to call after
	// Commit (it then does nothing).
	Rollback(ctx context.Context) error
}
