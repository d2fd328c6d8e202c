package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/echoroute"
	"github.com/clipia/apiguard/principal"
	"github.com/labstack/echo/v4"
)

// Header names set by the middleware.
const (
	HeaderRateLimitPolicy = "RateLimit-Policy"
	HeaderRateLimit       = "RateLimit"
)

// Config configures [New]. Only Policies is required; every other zero field
// means the documented default.
type Config struct {
	// Skipper returns true for requests the limiter ignores: they are not
	// counted and get no rate-limit headers. Nil means none is skipped.
	// Echo's middleware.Skipper values can be assigned to it.
	Skipper func(c echo.Context) bool

	// Policies are the limits of the route, all checked together for every
	// request (e.g. PerSecond("burst", 10, 20) and PerDay("daily", 1000)):
	// a request passes only when each allows it, and a refused request
	// takes nothing from any. At least one; names must be distinct.
	Policies []Policy

	// KeyFunc returns the caller's key: requests with the same key share
	// buckets. Nil means [DefaultKey]: the authenticated principal's key id,
	// else the client IP. An error is returned as the request's error.
	KeyFunc func(c echo.Context) (string, error)

	// CostFunc returns the number of tokens the request takes. Nil means 1.
	// A cost of 0 takes nothing but still reports the headers. A cost above
	// a policy's Burst can never pass and answers 400 invalid_request; a
	// negative cost answers 400 too. An error is returned as the request's
	// error.
	CostFunc func(c echo.Context) (int64, error)

	// FailClosed makes the middleware answer 503 service_unavailable when
	// the store cannot decide (e.g. Redis is down). The default, false,
	// fails open: the request is allowed and the error is logged. A store
	// error is never reported as a 429.
	FailClosed bool

	// Store keeps the buckets. Nil means a new [MemoryStore] with default
	// settings, private to this middleware.
	Store Store

	// Logger receives store failures (level Error when failing closed, Warn
	// when failing open). Nil means slog.Default().
	Logger *slog.Logger
}

// New returns the rate-limiting middleware configured by cfg, or an error
// for an invalid configuration (no policies, an invalid policy, two policies
// with the same name).
//
// For every request that is not skipped it takes the request's cost from
// the caller's buckets in one atomic store call and sets, on every response:
//
//	RateLimit-Policy: "burst";q=20;w=2, "daily";q=1000;w=86400
//	RateLimit: "burst";r=7;t=1
//
// following the IETF httpapi ratelimit-headers draft: q is the policy's
// Burst, w the seconds an empty bucket takes to refill (rounded up), r the
// whole tokens left in the most restrictive bucket and t the seconds until
// that bucket is full (rounded up). When the bucket lacks tokens it returns
// errorsx.RateLimitExceeded with Retry-After set to the time until enough
// tokens exist (whole seconds, rounded up, at least 1); on that 429 the
// RateLimit header reports the refusing policy and its t equals
// Retry-After. RateLimit is omitted when the store could not answer.
//
// The returned middleware is safe for concurrent use.
func New(cfg Config) (echo.MiddlewareFunc, error) {
	if len(cfg.Policies) == 0 {
		return nil, fmt.Errorf("%w: Config.Policies is empty", ErrInvalidPolicy)
	}
	policies := append([]Policy(nil), cfg.Policies...)
	seen := make(map[string]bool, len(policies))
	var policyHeader []byte
	names := make([]string, len(policies))
	for i, p := range policies {
		if err := p.Validate(); err != nil {
			return nil, err
		}
		name := p.NameOrDefault()
		if seen[name] {
			return nil, fmt.Errorf("%w: two policies named %q", ErrInvalidPolicy, name)
		}
		seen[name] = true
		names[i] = strconv.Quote(name)
		if i > 0 {
			policyHeader = append(policyHeader, ", "...)
		}
		policyHeader = append(policyHeader, names[i]...)
		policyHeader = append(policyHeader, ";q="...)
		policyHeader = strconv.AppendInt(policyHeader, p.Capacity(), 10)
		policyHeader = append(policyHeader, ";w="...)
		policyHeader = strconv.AppendInt(policyHeader, ceilSeconds(p.Refill()), 10)
	}
	l := &limiter{
		cfg:          cfg,
		policies:     policies,
		names:        names,
		policyHeader: string(policyHeader),
	}
	if l.cfg.Skipper == nil {
		l.cfg.Skipper = func(echo.Context) bool { return false }
	}
	if l.cfg.KeyFunc == nil {
		l.cfg.KeyFunc = DefaultKey
	}
	if l.cfg.Store == nil {
		l.cfg.Store = NewMemoryStore(MemoryConfig{})
	}
	if l.cfg.Logger == nil {
		l.cfg.Logger = slog.Default()
	}
	return l.middleware, nil
}

type limiter struct {
	cfg          Config
	policies     []Policy
	names        []string // quoted (sf-string) policy names
	policyHeader string
}

func (l *limiter) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !echoroute.Matched(c) {
			// An unknown route is a 404 whoever sees it first: no token.
			return errorsx.NotFound()
		}
		if l.cfg.Skipper(c) {
			return next(c)
		}
		h := c.Response().Header()
		h.Set(HeaderRateLimitPolicy, l.policyHeader)

		key, err := l.cfg.KeyFunc(c)
		if err != nil {
			return err
		}
		cost := int64(1)
		if l.cfg.CostFunc != nil {
			if cost, err = l.cfg.CostFunc(c); err != nil {
				return err
			}
		}
		if err := CheckRequest(l.policies, cost); err != nil {
			return costError(err)
		}

		ctx := c.Request().Context()
		res, err := l.cfg.Store.Take(ctx, key, l.policies, cost)
		if err != nil {
			if ce := costError(err); ce != nil && !isStoreFailure(err) {
				return ce
			}
			return l.storeFailed(c, ctx, err, next)
		}
		if res.Policy < 0 || res.Policy >= len(l.policies) {
			return l.storeFailed(c, ctx, fmt.Errorf("ratelimit: store reported policy %d of %d", res.Policy, len(l.policies)), next)
		}
		if !res.Allowed {
			secs := errorsx.RetryAfterSeconds(res.RetryAfter)
			h.Set(HeaderRateLimit, l.rateLimitValue(res.Policy, res.Remaining, secs))
			return errorsx.RateLimitExceeded().WithRetryAfter(time.Duration(secs) * time.Second)
		}
		h.Set(HeaderRateLimit, l.rateLimitValue(res.Policy, res.Remaining, ceilSeconds(res.ResetAfter)))
		return next(c)
	}
}

func (l *limiter) storeFailed(c echo.Context, ctx context.Context, err error, next echo.HandlerFunc) error {
	attrs := []slog.Attr{
		slog.String("request_id", errorsx.RequestID(c.Response().Header(), c.Request())),
		slog.String("route", c.Path()),
		slog.String("error", err.Error()),
	}
	if l.cfg.FailClosed {
		l.cfg.Logger.LogAttrs(ctx, slog.LevelError, "rate limit store failed; refusing the request (fail closed)", attrs...)
		return errorsx.ServiceUnavailable().WithCause(err)
	}
	l.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "rate limit store failed; allowing the request (fail open)", attrs...)
	return next(c)
}

// isStoreFailure reports whether err is the store's own failure rather than
// its verdict on the request's input.
func isStoreFailure(err error) bool {
	var ce *CostError
	return !errors.As(err, &ce) && !errors.Is(err, ErrInvalidCost)
}

// costError maps a refused cost onto 400 invalid_request with a message for
// the API user. It returns nil for other errors.
func costError(err error) error {
	var ce *CostError
	switch {
	case errors.As(err, &ce):
		return errorsx.InvalidRequest().WithMessage(fmt.Sprintf(
			"This request costs %d rate-limit units, more than the %q limit allows at once (%d); it can never succeed as sent.",
			ce.Cost, ce.Policy, ce.Burst)).WithCause(err)
	case errors.Is(err, ErrInvalidCost):
		return errorsx.InvalidRequest().WithMessage("The request has an invalid rate-limit cost.").WithCause(err)
	case errors.Is(err, ErrInvalidPolicy):
		return errorsx.Internal().WithCause(err)
	}
	return nil
}

func (l *limiter) rateLimitValue(i int, remaining, t int64) string {
	b := make([]byte, 0, len(l.names[i])+32)
	b = append(b, l.names[i]...)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, max(remaining, 0), 10)
	b = append(b, ";t="...)
	b = strconv.AppendInt(b, t, 10)
	return string(b)
}

// ceilSeconds rounds d up to whole seconds; 0 stays 0.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return s
}

// DefaultKey is the default [Config.KeyFunc]: "key:" and the authenticated
// principal's KeyID when an auth middleware put one into the request's
// context (see principal.FromContext), else "ip:" and the client IP.
//
// The client IP is what the Echo instance's IPExtractor returns when the
// app configured one (e.g. echo.ExtractIPFromXFFHeader with its trusted
// proxies), else the address of the TCP peer. A raw X-Forwarded-For or
// X-Real-IP header is never trusted by default: Echo's own RealIP would
// trust it when no IPExtractor is set, letting any client pick its bucket.
func DefaultKey(c echo.Context) (string, error) {
	if p, ok := principal.FromContext(c.Request().Context()); ok && p.KeyID != "" {
		return "key:" + p.KeyID, nil
	}
	return "ip:" + ClientIP(c), nil
}

// ClientIP returns the client address as [DefaultKey] sees it: the Echo
// instance's IPExtractor when one is configured, else the host part of the
// request's RemoteAddr.
func ClientIP(c echo.Context) string {
	if e := c.Echo(); e != nil && e.IPExtractor != nil {
		return e.IPExtractor(c.Request())
	}
	addr := c.Request().RemoteAddr
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
