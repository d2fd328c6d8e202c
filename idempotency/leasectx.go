package idempotency

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// leaseCtx is the context of a handler that runs under a claim: the
// request's context, also cancelled with cause ErrLeaseLost when the claim
// is lost, and with context.Canceled once the handler is done, as
// context.WithCancelCause(parent) would be. Until someone waits on it
// (Done), or it is cancelled and then asked, it is only its parent: the
// cancelable context of the standard library, which costs allocations and
// a request copy's worth of work per request, is made when it is first
// needed, which for most handlers is never.
type leaseCtx struct {
	parent context.Context

	made  atomic.Bool // inner is set (never unset)
	ended atomic.Bool // cancelled by cancel (lost or done)

	mu     sync.Mutex
	inner  context.Context // a WithCancelCause context, once made
	cancel context.CancelCauseFunc
	cause  error // the cause given to cancel before inner was made
	// parentFirst: the parent was already done when cancel was called,
	// so its error and cause are the ones to keep.
	parentFirst bool
}

// Deadline implements context.Context: the parent's.
func (c *leaseCtx) Deadline() (time.Time, bool) { return c.parent.Deadline() }

// Done implements context.Context.
func (c *leaseCtx) Done() <-chan struct{} { return c.real().Done() }

// Err implements context.Context.
func (c *leaseCtx) Err() error {
	if !c.made.Load() && !c.ended.Load() {
		return c.parent.Err()
	}
	return c.real().Err()
}

// Value implements context.Context. Once the context is cancelled, values
// come from the cancelable context, so that context.Cause finds its cause.
func (c *leaseCtx) Value(key any) any {
	if !c.made.Load() && !c.ended.Load() {
		return c.parent.Value(key)
	}
	return c.real().Value(key)
}

// real returns the cancelable context, made on first use.
func (c *leaseCtx) real() context.Context {
	if c.made.Load() {
		return c.inner
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.made.Load() {
		switch {
		case !c.ended.Load():
			c.inner, c.cancel = context.WithCancelCause(c.parent)
		case c.parentFirst:
			c.inner, c.cancel = context.WithCancelCause(c.parent) // done already: its error and cause
		default:
			// Cancelled before the parent: the parent's values, our cause.
			c.inner, c.cancel = context.WithCancelCause(context.WithoutCancel(c.parent))
			c.cancel(c.cause)
		}
		c.made.Store(true)
	}
	return c.inner
}

// cancelCause cancels the context with cause, unless it is cancelled
// already (the first cause stays).
func (c *leaseCtx) cancelCause(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.made.Load() {
		c.cancel(cause)
		return
	}
	if c.ended.Load() {
		return
	}
	c.cause, c.parentFirst = cause, c.parent.Err() != nil
	c.ended.Store(true)
}

// String describes the context, as the standard library's do.
func (c *leaseCtx) String() string { return "idempotency.leaseCtx" }
