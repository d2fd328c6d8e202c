// Package reqctx stores the values the guards of one request hand on —
// the caller, the bound body — in one context per request, so that a
// request with several of them is copied once ([http.Request.WithContext]
// copies the whole request) instead of once per value.
package reqctx

import (
	"context"
	"net/http"
	"sync/atomic"
)

// slots is how many values one request context holds before the next one
// takes a context of its own.
const slots = 3

// Values is a context carrying up to slots values of one request. The
// first [With] of a request creates one (one copy of the request); the
// next ones store into it, until it is full or a guard has derived
// another context from it (then r.Context() is that one, and With copies
// as context.WithValue would). A guard that derives a context and copies
// the request anyway can embed a Values in its own per-request state
// ([Values.Init]) and hand on a request whose context it is, so that the
// guards after it store into that one.
//
// Values are stored by the goroutine running the request's guards, before
// they call the rest of the chain; a reader in another goroutine sees a
// value only once it is fully stored (the count is published last).
type Values struct {
	context.Context
	n  atomic.Int32
	kv [slots]struct{ key, val any }
}

// With returns r with val under key in r's context: ctx.Value(key)
// returns val (the newest value of a key wins, as with nested
// context.WithValue). When r's context is one With created, the value is
// stored in it and r itself is returned; requests holding that context
// then see the value too, which is what a guard chain wants: values only
// go inwards, before the handler runs. key must be comparable.
func With(r *http.Request, key, val any) *http.Request {
	if c, ok := r.Context().(*Values); ok {
		if i := c.n.Load(); i < slots {
			c.kv[i].key, c.kv[i].val = key, val
			c.n.Store(i + 1)
			return r
		}
	}
	c := &Values{Context: r.Context()}
	c.kv[0].key, c.kv[0].val = key, val
	c.n.Store(1)
	return r.WithContext(c)
}

// Init makes c an empty Values over parent, before its first use.
func (c *Values) Init(parent context.Context) { c.Context = parent }

// Value implements context.Context: the newest value stored under key,
// else the parent's.
func (c *Values) Value(key any) any {
	for i := c.n.Load() - 1; i >= 0; i-- {
		if c.kv[i].key == key {
			return c.kv[i].val
		}
	}
	return c.Context.Value(key)
}

// String describes the context, as context.WithValue's does.
func (c *Values) String() string { return "apiguard request values" }
