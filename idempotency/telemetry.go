package idempotency

import (
	"context"
	"errors"

	"github.com/clipia/apiguard/internal/instrument"
	"github.com/clipia/apiguard/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Outcomes of a guarded request, indexes into observer's arrays.
const (
	outcomeExecuted = iota
	outcomeReplayed
	outcomeInProgress
	outcomeKeyReuse
	outcomeReleased
	outcomeLeaseLost
	outcomeStoreError
	numOutcomes
)

// observer counts the outcomes in apiguard.idempotency.requests, with
// options built once so that counting allocates nothing.
type observer struct {
	requests metric.Int64Counter
	opts     [numOutcomes][]metric.AddOption
	attrs    [numOutcomes]attribute.KeyValue
}

func newObserver(in *instrument.Instruments) observer {
	o := observer{requests: in.IdempotencyRequests}
	for i, v := range [numOutcomes]string{
		telemetry.IdempotencyExecuted, telemetry.IdempotencyReplayed, telemetry.IdempotencyInProgress,
		telemetry.IdempotencyKeyReuse, telemetry.IdempotencyReleased, telemetry.IdempotencyLeaseLost,
		telemetry.IdempotencyStoreError,
	} {
		o.attrs[i] = telemetry.AttrIdempotencyOutcome.String(v)
		o.opts[i] = instrument.Add(o.attrs[i])
	}
	return o
}

// count counts one outcome and sets it on the request's span (the one in
// ctx) when that is still recording.
func (o *observer) count(ctx context.Context, outcome int) {
	o.countOn(ctx, trace.SpanFromContext(ctx), outcome)
}

// countOn is count with the request's span given: the holder keeps it,
// since finding it in a context.WithoutCancel context allocates (the
// context is a value type, boxed for each lookup).
func (o *observer) countOn(ctx context.Context, span trace.Span, outcome int) {
	o.requests.Add(ctx, 1, o.opts[outcome]...)
	if span.IsRecording() {
		span.SetAttributes(o.attrs[outcome])
	}
}

// storeOps are the timers of the guard's store calls.
type storeOps struct {
	claim, commit, release, renew, begin, txCommit, rollback *instrument.StoreOp
}

// The apiguard.store.operation values of the guard's store calls.
const (
	opClaim    = "claim"
	opCommit   = "commit"
	opRelease  = "release"
	opRenew    = "renew"
	opBegin    = "begin"
	opTxCommit = "tx_commit"
	opRollback = "rollback"
)

func newStoreOps(in *instrument.Instruments, store string) storeOps {
	return storeOps{
		claim:    in.StoreOp(store, opClaim),
		commit:   in.StoreOp(store, opCommit),
		release:  in.StoreOp(store, opRelease),
		renew:    in.StoreOp(store, opRenew),
		begin:    in.StoreOp(store, opBegin),
		txCommit: in.StoreOp(store, opTxCommit),
		rollback: in.StoreOp(store, opRollback),
	}
}

// storeFailure is err as a store call's span sees it: ErrLeaseLost is the
// store's answer (the fencing worked), not a failure of the store.
func storeFailure(err error) error {
	if errors.Is(err, ErrLeaseLost) {
		return nil
	}
	return err
}
