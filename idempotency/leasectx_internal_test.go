package idempotency

import (
	"context"
	"errors"
	"testing"
)

type ctxKey struct{}

// TestLeaseCtx checks that the handler's context behaves as
// context.WithCancelCause(parent) would, however it is used.
func TestLeaseCtx(t *testing.T) {
	errParent := errors.New("parent's cause")
	closed := func(c context.Context) bool {
		select {
		case <-c.Done():
			return true
		default:
			return false
		}
	}
	for _, tc := range []struct {
		name      string
		doneFirst bool // Done is called before anything is cancelled
		parent    bool // the parent is cancelled first
		causes    []error
		wantCause error
	}{
		{name: "lost", causes: []error{ErrLeaseLost}, wantCause: ErrLeaseLost},
		{name: "lost, waited on", doneFirst: true, causes: []error{ErrLeaseLost}, wantCause: ErrLeaseLost},
		{name: "lost then done", causes: []error{ErrLeaseLost, context.Canceled}, wantCause: ErrLeaseLost},
		{name: "lost then done, waited on", doneFirst: true, causes: []error{ErrLeaseLost, context.Canceled}, wantCause: ErrLeaseLost},
		{name: "done", causes: []error{context.Canceled}, wantCause: context.Canceled},
		{name: "parent first", parent: true, causes: []error{ErrLeaseLost}, wantCause: errParent},
		{name: "parent first, waited on", parent: true, doneFirst: true, causes: []error{ErrLeaseLost}, wantCause: errParent},
		{name: "parent only", parent: true, wantCause: errParent},
		{name: "parent only, waited on", parent: true, doneFirst: true, wantCause: errParent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent, cancelParent := context.WithCancelCause(context.WithValue(context.Background(), ctxKey{}, "v"))
			defer cancelParent(nil)
			c := &leaseCtx{parent: parent}
			if got := c.Value(ctxKey{}); got != "v" {
				t.Fatalf("Value before: got %v, want the parent's", got)
			}
			if c.Err() != nil || context.Cause(c) != nil {
				t.Fatalf("before: Err %v, Cause %v, want nil", c.Err(), context.Cause(c))
			}
			var child context.Context
			if tc.doneFirst {
				if closed(c) {
					t.Fatal("Done closed before any cancellation")
				}
				var cancel context.CancelFunc
				child, cancel = context.WithCancel(c)
				defer cancel()
			}
			if tc.parent {
				cancelParent(errParent)
			}
			for _, cause := range tc.causes {
				c.cancelCause(cause)
			}
			if !closed(c) {
				t.Error("Done not closed after cancellation")
			}
			if child != nil && !closed(child) {
				t.Error("a child context made before the cancellation is not cancelled")
			}
			if !errors.Is(c.Err(), context.Canceled) {
				t.Errorf("Err: got %v, want context.Canceled", c.Err())
			}
			if got := context.Cause(c); got != tc.wantCause {
				t.Errorf("Cause: got %v, want %v", got, tc.wantCause)
			}
			if got := c.Value(ctxKey{}); got != "v" {
				t.Errorf("Value after: got %v, want the parent's", got)
			}
		})
	}
}
