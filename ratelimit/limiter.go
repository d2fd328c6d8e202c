package ratelimit

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/principal"
)

// Header names set by the limiter.
const (
	HeaderRateLimitPolicy = "RateLimit-Policy"
	HeaderRateLimit       = "RateLimit"
)

// Config configures [New]. Only Policies is required; every other zero field
// means the documented default. Every callback takes the *http.Request, so
// one Config serves every front door (middleware.RateLimit for Echo v4,
// echo5.RateLimit for Echo v5, nethttp.RateLimit for net/http).
type Config struct {
	// Skip returns true for requests the limiter ignores: they are not
	// counted and get no rate-limit headers. Nil means none is skipped.
	Skip func(r *http.Request) bool

	// Policies are the limits of the route, all checked together for every
	// request (e.g. PerSecond("burst", 10, 20) and PerDay("daily", 1000)):
	// a request passes only when each allows it, and a refused request
	// takes nothing from any. At least one; names must be distinct.
	Policies []Policy

	// KeyFunc returns the caller's key: requests with the same key share
	// buckets. Nil means DefaultKeyFunc(Config.ClientIP) (see
	// [DefaultKeyFunc]): the authenticated principal's key id, else "ip:"
	// and the client IP. An error is returned as the request's error.
	KeyFunc func(r *http.Request) (string, error)

	// CostFunc returns the number of tokens the request takes. Nil means 1.
	// A cost of 0 takes nothing but still reports the headers. A cost above
	// a policy's Burst can never pass and answers 400 invalid_request; a
	// negative cost answers 400 too. An error is returned as the request's
	// error.
	CostFunc func(r *http.Request) (int64, error)

	// ClientIP returns the client's IP address for the default key (it is
	// not used when KeyFunc is set). Nil means [ClientIP]: the direct TCP
	// peer (the host of r.RemoteAddr). A raw X-Forwarded-For or X-Real-IP
	// header is never trusted by default; behind a proxy, give a function
	// that trusts only your proxies, e.g. an Echo app's e.IPExtractor
	// (echo.ExtractIPFromXFFHeader with its trusted ranges). Echo's
	// IPExtractor is NOT picked up on its own.
	ClientIP func(r *http.Request) string

	// FailClosed makes the limiter answer 503 service_unavailable when
	// the store cannot decide (e.g. Redis is down). The default, false,
	// fails open: the request is allowed and the error is logged. A store
	// error is never reported as a 429.
	FailClosed bool

	// Store keeps the buckets. Nil means a new [MemoryStore] with default
	// settings, private to this limiter.
	Store Store

	// Logger receives store failures (level Error when failing closed, Warn
	// when failing open). Nil means slog.Default().
	Logger *slog.Logger
}

// Limiter is the framework-neutral rate limiter that [New] builds: the front
// doors call [Limiter.Limit] for every request. It is safe for concurrent
// use.
type Limiter struct {
	skip     func(*http.Request) bool
	keyFunc  func(*http.Request) (string, error)
	costFunc func(*http.Request) (int64, error)
	store    Store
	logger   *slog.Logger
	closed   bool

	policies     []Policy
	names        []string // quoted (sf-string) policy names
	policyHeader string   // the RateLimit-Policy header value
}

// New returns the rate limiter configured by cfg, or an error wrapping
// [ErrInvalidPolicy] for an invalid configuration (no policies, an invalid
// policy, two policies with the same name). See [Limiter.Limit] for what it
// does per request.
func New(cfg Config) (*Limiter, error) {
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
	l := &Limiter{
		skip:         cfg.Skip,
		keyFunc:      cfg.KeyFunc,
		costFunc:     cfg.CostFunc,
		store:        cfg.Store,
		logger:       cfg.Logger,
		closed:       cfg.FailClosed,
		policies:     policies,
		names:        names,
		policyHeader: string(policyHeader),
	}
	if l.keyFunc == nil {
		l.keyFunc = DefaultKeyFunc(cfg.ClientIP)
	}
	if l.store == nil {
		l.store = NewMemoryStore(MemoryConfig{})
	}
	if l.logger == nil {
		l.logger = slog.Default()
	}
	return l, nil
}

// Limit decides request r of the route (the route pattern, for the log
// line only). It returns nil when the request may proceed, else the error
// the front door renders; it never writes a body.
//
// For every request that Config.Skip does not skip it takes the request's
// cost from the caller's buckets in one atomic store call and sets, on
// w.Header(), for the response that follows whatever Limit returns:
//
//	RateLimit-Policy: "burst";q=20;w=2, "daily";q=1000;w=86400
//	RateLimit: "burst";r=7;t=1
//
// following the IETF httpapi ratelimit-headers draft: q is the policy's
// Burst, w the seconds an empty bucket takes to refill (rounded up), r the
// whole tokens left in the most restrictive bucket and t the seconds until
// that bucket is full (rounded up). RateLimit is omitted when the store
// could not answer.
//
// Errors: errorsx.RateLimitExceeded (429) with Retry-After set to the time
// until enough tokens exist (whole seconds, rounded up, at least 1) when a
// bucket lacks tokens, and then the RateLimit header reports the refusing
// policy and its t equals Retry-After; errorsx.InvalidRequest (400) for a
// negative cost or one above a policy's Burst; errorsx.ServiceUnavailable
// (503) when the store fails and Config.FailClosed is set (failing open,
// Limit logs and returns nil); and the error of KeyFunc or CostFunc as they
// returned it. A store failure is logged with the request id (taken from or
// set on w.Header(), see errorsx.RequestID), the route and the cause.
func (l *Limiter) Limit(w http.ResponseWriter, r *http.Request, route string) error {
	if l.skip != nil && l.skip(r) {
		return nil
	}
	h := w.Header()
	h.Set(HeaderRateLimitPolicy, l.policyHeader)

	key, err := l.keyFunc(r)
	if err != nil {
		return err
	}
	cost := int64(1)
	if l.costFunc != nil {
		if cost, err = l.costFunc(r); err != nil {
			return err
		}
	}
	if err := CheckRequest(l.policies, cost); err != nil {
		return costError(err)
	}

	ctx := r.Context()
	res, err := l.store.Take(ctx, key, l.policies, cost)
	if err != nil {
		if ce := costError(err); ce != nil && !isStoreFailure(err) {
			return ce
		}
		return l.storeFailed(w, r, route, err)
	}
	if res.Policy < 0 || res.Policy >= len(l.policies) {
		return l.storeFailed(w, r, route, fmt.Errorf("ratelimit: store reported policy %d of %d", res.Policy, len(l.policies)))
	}
	if !res.Allowed {
		secs := errorsx.RetryAfterSeconds(res.RetryAfter)
		h.Set(HeaderRateLimit, l.rateLimitValue(res.Policy, res.Remaining, secs))
		return errorsx.RateLimitExceeded().WithRetryAfter(time.Duration(secs) * time.Second)
	}
	h.Set(HeaderRateLimit, l.rateLimitValue(res.Policy, res.Remaining, ceilSeconds(res.ResetAfter)))
	return nil
}

func (l *Limiter) storeFailed(w http.ResponseWriter, r *http.Request, route string, err error) error {
	attrs := []slog.Attr{
		slog.String("request_id", errorsx.RequestID(w.Header(), r)),
		slog.String("route", route),
		slog.String("error", err.Error()),
	}
	ctx := r.Context()
	if l.closed {
		l.logger.LogAttrs(ctx, slog.LevelError, "rate limit store failed; refusing the request (fail closed)", attrs...)
		return errorsx.ServiceUnavailable().WithCause(err)
	}
	l.logger.LogAttrs(ctx, slog.LevelWarn, "rate limit store failed; allowing the request (fail open)", attrs...)
	return nil
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

// rateLimitValue returns the RateLimit header value; it builds it on the
// stack (a quoted name is at most 66 bytes, two int64s 40 more), so the
// string is its one allocation.
func (l *Limiter) rateLimitValue(i int, remaining, t int64) string {
	var buf [128]byte
	b := buf[:0]
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

// DefaultKey is the default key with the default client IP:
// DefaultKeyFunc(nil). It returns "key:" and the authenticated principal's
// KeyID when an auth guard put one into the request's context (see
// principal.FromContext), else "ip:" and [ClientIP]: the direct TCP peer. It
// never fails.
func DefaultKey(r *http.Request) (string, error) {
	if p, ok := principal.FromContext(r.Context()); ok && p.KeyID != "" {
		return "key:" + p.KeyID, nil
	}
	return "ip:" + ClientIP(r), nil
}

// DefaultKeyFunc returns the default Config.KeyFunc for the client-IP
// function clientIP (nil means [ClientIP], and then it is [DefaultKey]):
// "key:" and the authenticated principal's KeyID when an auth guard put one
// into the request's context, else "ip:" and clientIP(r). [New] uses it with
// Config.ClientIP when Config.KeyFunc is nil; a custom KeyFunc may wrap it
// (e.g. to add a tenant). The returned function never fails.
func DefaultKeyFunc(clientIP func(r *http.Request) string) func(r *http.Request) (string, error) {
	if clientIP == nil {
		return DefaultKey
	}
	return func(r *http.Request) (string, error) {
		if p, ok := principal.FromContext(r.Context()); ok && p.KeyID != "" {
			return "key:" + p.KeyID, nil
		}
		return "ip:" + clientIP(r), nil
	}
}

// ClientIP returns the direct TCP peer of r: the host part of r.RemoteAddr
// (the whole RemoteAddr when it has no port). It is the default
// Config.ClientIP; it never reads X-Forwarded-For or X-Real-IP, which any
// client can forge.
func ClientIP(r *http.Request) string {
	addr := r.RemoteAddr
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
