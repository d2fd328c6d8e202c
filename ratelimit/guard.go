package ratelimit

import (
	"net/http"
	"strconv"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/openapi"
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

// rateLimitHeaders are the headers a limited route sends on its responses.
var rateLimitHeaders = []openapi.Header{
	{
		Name:        HeaderRateLimitPolicy,
		Description: "The route's quota policies (IETF httpapi ratelimit-headers draft), e.g. \"default\";q=20;w=2.",
	},
	{
		Name:        HeaderRateLimit,
		Description: "The quota left (r) and the seconds until more is available (t) of each policy, e.g. \"default\";r=7;t=1.",
	},
}

// Describe adds to op what the limiter answers: 429 rate_limit_exceeded
// (with Retry-After), the RateLimit-Policy and RateLimit headers on every
// response, 400 invalid_request with a CostFunc (a cost no bucket can
// hold), and 503 service_unavailable when failing closed. The policies of
// the default plan are in the description.
func (l *Limiter) Describe(op *openapi.Operation) {
	op.Errors(errorsx.CodeRateLimitExceeded)
	op.Header(rateLimitHeaders...)
	if l.costFunc != nil {
		op.Errors(errorsx.CodeInvalidRequest)
	}
	if l.closed {
		op.Errors(errorsx.CodeServiceUnavailable)
	}
	if l.def != nil && l.def.header != "" {
		op.Note("Rate limited: RateLimit-Policy " + l.def.header + ".")
	}
}

// Describe adds to op what the concurrency limit answers: 429
// rate_limit_exceeded (with Retry-After) when the caller has Limit
// requests in flight, its RateLimit-Policy and RateLimit headers, and 503
// service_unavailable when failing closed.
func (c *Concurrency) Describe(op *openapi.Operation) {
	op.Errors(errorsx.CodeRateLimitExceeded)
	op.Header(rateLimitHeaders...)
	if c.closed {
		op.Errors(errorsx.CodeServiceUnavailable)
	}
	op.Note("At most " + strconv.FormatInt(c.limit, 10) + " requests in flight per caller.")
}
