package ratelimit

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// outage logs a store's failures once per outage instead of once per
// request: a store that is down fails every request, and a log line each
// would bury the one that matters under thousands. The first failure after
// the store answered logs (Warn when failing open, Error when failing
// closed); the first success after failures logs once more, at Warn, with
// how many requests were let through unchecked (fail open) or refused
// (fail closed) and for how long. Every failed decision is still counted,
// per request, in apiguard.ratelimit.decisions (outcome "error") by the
// Limiter. The zero value is ready; it is safe for concurrent use and
// costs one atomic load on the path of a store that answers.
type outage struct {
	down   atomic.Bool
	failed atomic.Int64 // requests failed since the outage began

	mu    sync.Mutex
	since time.Time
}

// fail records a store failure of one request and logs it when it begins
// an outage. what names the store ("rate limit store"), attrs describe the
// request (request id, route, error); closed is the mode.
func (o *outage) fail(ctx context.Context, logger *slog.Logger, what string, closed bool, attrs []slog.Attr) {
	o.failed.Add(1)
	if !o.down.CompareAndSwap(false, true) {
		return
	}
	o.mu.Lock()
	o.since = time.Now()
	o.mu.Unlock()
	if closed {
		logger.LogAttrs(ctx, slog.LevelError, what+" failed; refusing requests with 503 until it answers again (fail closed)", attrs...)
		return
	}
	logger.LogAttrs(ctx, slog.LevelWarn, what+" failed; allowing requests unchecked until it answers again (fail open)", attrs...)
}

// up records that the store answered, and logs the end of an outage.
func (o *outage) up(ctx context.Context, logger *slog.Logger, what string, closed bool) {
	if !o.down.Load() || !o.down.CompareAndSwap(true, false) {
		return
	}
	n := o.failed.Swap(0)
	o.mu.Lock()
	since := o.since
	o.mu.Unlock()
	key := "requests_allowed"
	if closed {
		key = "requests_refused"
	}
	logger.LogAttrs(ctx, slog.LevelWarn, what+" answers again",
		slog.Int64(key, n), slog.Duration("outage", time.Since(since)))
}
