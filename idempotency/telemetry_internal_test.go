package idempotency

import (
	"context"
	"testing"

	"github.com/clipia/apiguard/internal/alloctest"
	"github.com/clipia/apiguard/internal/instrument"
	"go.opentelemetry.io/otel/trace"
)

// TestTelemetryAllocatesNothingWithoutSDK: with the default (global,
// no-op) providers, what the guard adds per request (an outcome count and
// the timer of each store call) allocates nothing.
func TestTelemetryAllocatesNothingWithoutSDK(t *testing.T) {
	g, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, op := range []string{opClaim, opCommit, opRelease, opRenew, opBegin, opTxCommit, opRollback} {
		o := map[string]*instrument.StoreOp{opClaim: g.ops.claim, opCommit: g.ops.commit, opRelease: g.ops.release,
			opRenew: g.ops.renew, opBegin: g.ops.begin, opTxCommit: g.ops.txCommit, opRollback: g.ops.rollback}[op]
		if n := alloctest.PerRun(1000, func() {
			c, call := o.Begin(ctx)
			_ = c
			call.End(nil)
		}); n != 0 {
			t.Errorf("timing %s: %v allocations, want 0", op, n)
		}
	}
	// The holder counts on a context.WithoutCancel context, where finding
	// the span would allocate: it passes the span it kept.
	bg := context.WithoutCancel(ctx)
	span := trace.SpanFromContext(ctx)
	for outcome := range numOutcomes {
		if n := alloctest.PerRun(1000, func() { g.obs.count(ctx, outcome) }); n != 0 {
			t.Errorf("counting outcome %d: %v allocations, want 0", outcome, n)
		}
		if n := alloctest.PerRun(1000, func() { g.obs.countOn(bg, span, outcome) }); n != 0 {
			t.Errorf("counting outcome %d in the background: %v allocations, want 0", outcome, n)
		}
	}
}
