package ratelimit

import (
	"net/http"

	"github.com/clipia/apiguard/guard"
)

// Serve is the guard of the limiter (a [guard.Guard]): it decides r for
// the route c.Route() ([Limiter.Limit]: RateLimit-Policy and RateLimit
// headers on the response; 429 with Retry-After, 400 for a bad cost, or 503
// when failing closed, returned for the door to render), then runs the rest
// of the chain. With Config.DeferredCost the handler may charge more with
// [AddCost](r.Context(), n), applied when it returns.
func (l *Limiter) Serve(w http.ResponseWriter, r *http.Request, c guard.Call) error {
	r, d, err := l.Begin(w, r, c.Route())
	if err != nil {
		return err
	}
	if d == nil {
		return c.Next(w, r)
	}
	err = c.Next(w, r)
	d.End()
	return err
}

// Serve is the guard of the concurrency limit (a [guard.Guard]): it takes
// a slot of the caller for the route c.Route() ([Concurrency.Acquire];
// 429 with Retry-After when the caller has Limit requests in flight, 503
// when failing closed), runs the rest of the chain and releases the slot
// when it returns, also when it panics.
func (c *Concurrency) Serve(w http.ResponseWriter, r *http.Request, call guard.Call) error {
	release, err := c.Acquire(w, r, call.Route())
	if err != nil {
		return err
	}
	defer release()
	return call.Next(w, r)
}
