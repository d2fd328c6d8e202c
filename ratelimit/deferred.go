package ratelimit

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"sync/atomic"

	"github.com/clipia/apiguard/errorsx"
)

// Deferred is the cost a request's handler adds with [AddCost], charged to
// the caller when the front door calls [Deferred.End] after the handler
// returned. [Limiter.Begin] returns one only when Config.DeferredCost is set.
type Deferred struct {
	n     atomic.Int64
	l     *Limiter
	p     *plan
	key   string
	route string
	w     http.ResponseWriter
	r     *http.Request
}

type deferredKey struct{}

// AddCost charges n more tokens to the caller of the request whose context
// is ctx, once its handler returns: for costs known only after the work
// (seconds generated, rows returned). It works on routes whose limiter has
// Config.DeferredCost, through every front door (the handler passes its
// request's context: c.Request().Context() with Echo, r.Context() with
// net/http), may be called several times (the amounts add up) and is safe
// for concurrent use. The charge may put the caller's buckets into debt, so
// that its next requests get 429 until the debt is paid. A non-positive n
// adds nothing. AddCost reports whether ctx belongs to such a route: false
// means the cost was dropped.
func AddCost(ctx context.Context, n int64) bool {
	d, _ := ctx.Value(deferredKey{}).(*Deferred)
	if d == nil {
		return false
	}
	if n > 0 {
		if d.n.Add(n) < 0 {
			d.n.Store(math.MaxInt64) // saturate rather than wrap
		}
	}
	return true
}

// Begin is [Limiter.Limit] for front doors: it decides the request alike
// and, when Config.DeferredCost is set and the request may proceed, returns
// the request to serve the handler with (its context carries the tally of
// [AddCost]) and the [Deferred] to end once the handler has returned.
// Otherwise it returns r itself and a nil *Deferred (whose End does
// nothing), and allocates nothing more than Limit.
func (l *Limiter) Begin(w http.ResponseWriter, r *http.Request, route string) (*http.Request, *Deferred, error) {
	key, p, err := l.limit(w, r, route)
	if err != nil || !l.deferred || p == nil {
		return r, nil, err
	}
	d := &Deferred{l: l, p: p, key: key, route: route, w: w}
	d.r = r.WithContext(context.WithValue(r.Context(), deferredKey{}, d))
	return d.r, d, nil
}

// End charges what the handler added with [AddCost] (nothing when it added
// nothing) to every bucket of the caller's plan, shadow policies included,
// in one store call that is not cancelled with the request. A store failure
// is logged (level Warn, with the request id, the route and the cause) and
// otherwise ignored: the response is already written. End is safe on a nil
// *Deferred; a second End charges only what was added since the first.
func (d *Deferred) End() {
	if d == nil {
		return
	}
	n := d.n.Swap(0)
	if n <= 0 {
		return
	}
	ctx := context.WithoutCancel(d.r.Context())
	sctx, call := d.l.chargeOp.Begin(ctx)
	err := d.l.charger.Charge(sctx, d.key, d.p.policies, n)
	call.End(err)
	if err != nil {
		d.l.logger.LogAttrs(ctx, slog.LevelWarn, "rate limit store failed to charge the cost added after the response",
			slog.String("request_id", errorsx.RequestID(d.w.Header(), d.r)),
			slog.String("route", d.route),
			slog.Int64("cost", n),
			slog.String("error", err.Error()))
	}
}
