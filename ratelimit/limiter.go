package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/headerval"
	"github.com/clipia/apiguard/internal/instrument"
	"github.com/clipia/apiguard/principal"
	"github.com/clipia/apiguard/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Header names set by the limiter.
const (
	HeaderRateLimitPolicy = "RateLimit-Policy"
	HeaderRateLimit       = "RateLimit"
)

// Config configures [New]. Only Policies is required; every other zero field
// means the documented default. Every callback takes the *http.Request, so
// one Config serves every front door (the Limiter is a guard.Guard,
// [Limiter.Serve], that every door mounts with its Use).
type Config struct {
	// Skip returns true for requests the limiter ignores: they are not
	// counted and get no rate-limit headers. Nil means none is skipped.
	Skip func(r *http.Request) bool

	// Policies are the limits of the route, all checked together for every
	// request (e.g. PerSecond("burst", 10, 20) and PerDay("daily", 1000, 1000)):
	// a request passes only when each enforced one allows it, and a refused
	// request takes nothing from any. At least one; names must be distinct.
	// With Plans, these are the default plan's: the policies of callers
	// whose plan is "" (anonymous callers, keys without a plan).
	Policies []Policy

	// Plans are named sets of policies (a caller's plan or tenant, e.g.
	// "free": 2/s burst 5, "pro": 50/s burst 100, "tenant-acme": an
	// override), chosen per request by PlanFunc. Each set follows the
	// rules of Policies; a plan name must not be empty. Everything a plan
	// needs per request (headers, telemetry attributes) is built by New,
	// so choosing a plan allocates nothing. A policy name is one bucket
	// per caller across plans: a caller who changes plans keeps the
	// buckets of the names both plans use. Nil means one plan, Policies.
	Plans map[string][]Policy

	// PlanFunc returns the plan of a request: "" for the default plan
	// (Policies), else a key of Plans. A name that is not in Plans is a
	// wiring bug: the request is answered 500 internal_error and the
	// name is logged (at most 64 bytes of it). An error is returned as the
	// request's error. Nil means [PrincipalPlan] (the principal's
	// Metadata["plan"]) when Plans is set; New refuses a PlanFunc without
	// Plans.
	PlanFunc func(r *http.Request) (string, error)

	// KeyFunc returns the caller's key: requests with the same key share
	// buckets. Nil means the default key (see [DefaultKeyFunc]) with
	// Config.ClientIP and Config.IPv6PrefixLen: the authenticated
	// principal's key id, else "ip:" and the client IP ([IPKey]). An error
	// is returned as the request's error.
	KeyFunc func(r *http.Request) (string, error)

	// CostFunc returns the number of tokens the request takes. Nil means 1.
	// A cost of 0 takes nothing but still reports the headers. A cost above
	// a policy's Burst can never pass and answers 400 invalid_request; a
	// negative cost answers 400 too. An error is returned as the request's
	// error.
	CostFunc func(r *http.Request) (int64, error)

	// DeferredCost lets the route's handler charge tokens once it knows
	// the real cost, with [AddCost] on the request's context: after the
	// handler returns, the sum is taken from every bucket of the caller's
	// plan, even into debt (at most one Burst beyond empty, see
	// [Policy.DebtLimit]), so the caller's next requests wait accordingly
	// (429 with Retry-After until the debt is paid). The store must
	// implement [Charger] (the memory store and redisstore do). Default
	// false: the limiter puts nothing into the request's context.
	DeferredCost bool

	// ClientIP returns the client's IP address for the default key (it is
	// not used when KeyFunc is set). Nil means [ClientIP]: the direct TCP
	// peer (the host of r.RemoteAddr). A raw X-Forwarded-For or X-Real-IP
	// header is never trusted by default; behind a proxy, give a function
	// that trusts only your proxies, e.g. an Echo app's e.IPExtractor
	// (echo.ExtractIPFromXFFHeader with its trusted ranges). Echo's
	// IPExtractor is NOT picked up on its own.
	ClientIP func(r *http.Request) string

	// IPv6PrefixLen is the prefix length by which the default key groups
	// IPv6 clients (one host can rotate through its /64 at will): 1 to
	// 128, 128 keys each address. Zero means 64. IPv4 addresses, and IPv6
	// addresses that map an IPv4 one (::ffff:a.b.c.d), are keyed by the
	// full IPv4 address. Not used when KeyFunc is set.
	IPv6PrefixLen int

	// FailClosed makes the limiter answer 503 service_unavailable (with
	// Retry-After) when the store cannot decide (e.g. Redis is down). The
	// default, false, fails open: the request is allowed, without
	// RateLimit headers. Either way each failed decision is counted in
	// apiguard.ratelimit.decisions (outcome "error"), and the outage is
	// logged once when it begins (Warn open, Error closed) and once when
	// the store answers again, with the number of requests it allowed or
	// refused: not once per request. A store error is never reported as a
	// 429.
	FailClosed bool

	// Store keeps the buckets. Nil means a new [MemoryStore] with default
	// settings, private to this limiter.
	Store Store

	// Logger receives store failures (level Error when failing closed, Warn
	// when failing open), unknown plans (Error) and shadow refusals (Info,
	// once per caller and policy per window). Nil means slog.Default().
	Logger *slog.Logger

	// Telemetry selects the OpenTelemetry providers: every decision is
	// counted in apiguard.ratelimit.decisions, every store call timed in
	// apiguard.store.duration, and a recording span of the request gets
	// the outcome and the remaining tokens. The zero value uses the global
	// providers (no-ops until the application installs an SDK).
	Telemetry telemetry.Config
}

// ErrInvalidConfig is wrapped by the errors of [New] about the
// configuration beyond the policies themselves (plans, IPv6PrefixLen,
// DeferredCost). An invalid policy wraps [ErrInvalidPolicy].
var ErrInvalidConfig = errors.New("ratelimit: invalid configuration")

// Limiter is the framework-neutral rate limiter that [New] builds: the front
// doors call [Limiter.Begin] (or [Limiter.Limit]) for every request. It is
// safe for concurrent use.
type Limiter struct {
	skip     func(*http.Request) bool
	planFunc func(*http.Request) (string, error)
	keyFunc  func(*http.Request) (string, error)
	costFunc func(*http.Request) (int64, error)
	store    Store
	charger  Charger
	deferred bool
	logger   *slog.Logger
	closed   bool

	def   *plan
	plans map[string]*plan

	decisions metric.Int64Counter
	takeOp    *instrument.StoreOp
	chargeOp  *instrument.StoreOp
	shadowLog *shadowLog
	outage    outage // the store's failures, logged once per outage
}

// Decision outcomes, the index of a plan's precomputed options.
const (
	outAllowed = iota
	outLimited
	outShadowLimited
	outError
	numOutcomes
)

var outcomes = [numOutcomes]string{telemetry.RateLimitAllowed, telemetry.RateLimitLimited, telemetry.RateLimitShadowLimited, telemetry.RateLimitError}

// plan is one set of policies with everything a request needs precomputed.
type plan struct {
	name     string // "" for the default plan
	policies []Policy
	enforced []Policy
	enfIdx   []int // enforced[i] is policies[enfIdx[i]]
	shadow   []Policy
	shIdx    []int
	names    []string        // quoted (sf-string) policy names
	interval []time.Duration // policies[i].Interval()
	refill   []time.Duration // policies[i].Refill()
	header   string          // the RateLimit-Policy header value
	// headerVals is header as a header's values, shared by every response
	// (len = cap: an Add copies it; nothing writes into it).
	headerVals []string
	opts       [][numOutcomes][]metric.AddOption
}

func newPlan(name string, policies []Policy) (*plan, error) {
	if len(policies) == 0 {
		if name == "" {
			return nil, fmt.Errorf("%w: Config.Policies is empty", ErrInvalidPolicy)
		}
		return nil, fmt.Errorf("%w: plan %q has no policies", ErrInvalidPolicy, name)
	}
	p := &plan{name: name, policies: append([]Policy(nil), policies...)}
	seen := make(map[string]bool, len(policies))
	var header []byte
	p.names = make([]string, len(policies))
	p.interval = make([]time.Duration, len(policies))
	p.refill = make([]time.Duration, len(policies))
	p.opts = make([][numOutcomes][]metric.AddOption, len(policies))
	for i, pol := range p.policies {
		if err := pol.Validate(); err != nil {
			return nil, err
		}
		n := pol.NameOrDefault()
		if seen[n] {
			return nil, fmt.Errorf("%w: two policies named %q", ErrInvalidPolicy, n)
		}
		seen[n] = true
		p.names[i] = strconv.Quote(n)
		p.interval[i], p.refill[i] = pol.Interval(), pol.Refill()
		if i > 0 {
			header = append(header, ", "...)
		}
		header = append(header, p.names[i]...)
		header = append(header, ";q="...)
		header = strconv.AppendInt(header, pol.Capacity(), 10)
		header = append(header, ";w="...)
		header = strconv.AppendInt(header, ceilSeconds(pol.Refill()), 10)
		for o := range numOutcomes {
			p.opts[i][o] = instrument.Add(telemetry.AttrRateLimitPolicy.String(n), telemetry.AttrRateLimitOutcome.String(outcomes[o]))
		}
		if pol.Shadow {
			p.shadow = append(p.shadow, pol)
			p.shIdx = append(p.shIdx, i)
		} else {
			p.enforced = append(p.enforced, pol)
			p.enfIdx = append(p.enfIdx, i)
		}
	}
	p.header = string(header)
	p.headerVals = []string{p.header}
	return p, nil
}

// New returns the rate limiter configured by cfg, or an error for an
// invalid configuration: one wrapping [ErrInvalidPolicy] for missing,
// invalid or duplicate policies (of Policies or of a plan), one wrapping
// [ErrInvalidConfig] for an empty plan name, a PlanFunc without Plans, an
// IPv6PrefixLen outside 0–128, or DeferredCost with a store that is not a
// [Charger]. See [Limiter.Limit] for what it does per request.
func New(cfg Config) (*Limiter, error) {
	def, err := newPlan("", cfg.Policies)
	if err != nil {
		return nil, err
	}
	if cfg.IPv6PrefixLen < 0 || cfg.IPv6PrefixLen > 128 {
		return nil, fmt.Errorf("%w: IPv6PrefixLen %d is not within 0-128", ErrInvalidConfig, cfg.IPv6PrefixLen)
	}
	if cfg.PlanFunc != nil && len(cfg.Plans) == 0 {
		return nil, fmt.Errorf("%w: Config.PlanFunc is set but Config.Plans is empty", ErrInvalidConfig)
	}
	l := &Limiter{
		skip:      cfg.Skip,
		planFunc:  cfg.PlanFunc,
		keyFunc:   cfg.KeyFunc,
		costFunc:  cfg.CostFunc,
		store:     cfg.Store,
		deferred:  cfg.DeferredCost,
		logger:    cfg.Logger,
		closed:    cfg.FailClosed,
		def:       def,
		shadowLog: newShadowLog(),
	}
	if len(cfg.Plans) > 0 {
		l.plans = make(map[string]*plan, len(cfg.Plans))
		for name, ps := range cfg.Plans {
			if name == "" {
				return nil, fmt.Errorf("%w: a plan name is empty (the default plan is Config.Policies)", ErrInvalidConfig)
			}
			p, err := newPlan(name, ps)
			if err != nil {
				return nil, err
			}
			l.plans[name] = p
		}
		if l.planFunc == nil {
			l.planFunc = PrincipalPlan
		}
	}
	if l.keyFunc == nil {
		l.keyFunc = defaultKeyFunc(cfg.ClientIP, cfg.IPv6PrefixLen)
	}
	if l.store == nil {
		l.store = NewMemoryStore(MemoryConfig{})
	}
	if l.deferred {
		c, ok := l.store.(Charger)
		if !ok {
			return nil, fmt.Errorf("%w: Config.DeferredCost needs a store that implements ratelimit.Charger", ErrInvalidConfig)
		}
		l.charger = c
	}
	if l.logger == nil {
		l.logger = slog.Default()
	}
	in := instrument.New(cfg.Telemetry)
	l.decisions = in.RateLimitDecisions
	store := instrument.StoreName(l.store)
	l.takeOp = in.StoreOp(store, "take")
	l.chargeOp = in.StoreOp(store, "charge")
	return l, nil
}

// Limit decides request r of the route (the route pattern, for the log
// line only). It returns nil when the request may proceed, else the error
// the front door renders; it never writes a body. It ignores
// Config.DeferredCost: front doors call [Limiter.Begin], which handles it.
//
// For every request that Config.Skip does not skip it chooses the caller's
// plan (Config.PlanFunc), takes the request's cost from the caller's buckets
// of the plan's enforced policies in one atomic store call (and, when the
// plan has shadow policies, from theirs in a second one) and sets, on
// w.Header(), for the response that follows whatever Limit returns:
//
//	RateLimit-Policy: "burst";q=20;w=2, "daily";q=1000;w=86400
//	RateLimit: "burst";r=7;t=1
//
// following the IETF httpapi ratelimit-headers draft, with the semantics of
// draft -10: q is the policy's Burst, w the seconds an empty bucket takes
// to refill (rounded up), r the whole tokens left in the most restrictive
// bucket and t the seconds until that bucket holds one more token (draft
// -10 section 4.1.2, "until additional quota ... is made available";
// rounded up; left out when the bucket is full). RateLimit is omitted when
// the store could not answer. A shadow policy that would refuse is reported
// in RateLimit, counted as shadow_limited and logged once per caller per
// window, but the request proceeds.
//
// Errors: errorsx.RateLimitExceeded (429) with Retry-After set to the time
// until enough tokens exist (whole seconds, rounded up, at least 1) when a
// bucket lacks tokens, and then the RateLimit header reports the refusing
// policy, its t never later than Retry-After (draft -10 section 6: equal
// for a cost of 1, earlier for a larger cost, since one more token comes
// before all of them); errorsx.InvalidRequest (400) for a
// negative cost or one above a policy's Burst; errorsx.ServiceUnavailable
// (503) when the store fails and Config.FailClosed is set (failing open,
// Limit logs and returns nil); errorsx.Internal (500) for a plan name that
// is not in Config.Plans; and the error of PlanFunc, KeyFunc or CostFunc as
// they returned it. A store failure is logged with the request id (taken
// from or set on w.Header(), see errorsx.RequestID), the route and the
// cause.
//
// Every request that is not skipped is counted once in
// apiguard.ratelimit.decisions, with outcome allowed, limited,
// shadow_limited or error (any error Limit returns, and a store failure
// when failing open) and the reported policy (on an error before a
// decision, the plan's first policy).
func (l *Limiter) Limit(w http.ResponseWriter, r *http.Request, route string) error {
	_, _, err := l.limit(w, r, route)
	return err
}

// limit is Limit; it also returns the caller's key and plan (nil when the
// request was skipped) for a charge after the response.
func (l *Limiter) limit(w http.ResponseWriter, r *http.Request, route string) (string, *plan, error) {
	if l.skip != nil && l.skip(r) {
		return "", nil, nil
	}
	ctx := r.Context()
	p := l.def
	if l.planFunc != nil {
		name, err := l.planFunc(r)
		if err != nil {
			l.count(ctx, p, 0, outError, -1)
			return "", nil, err
		}
		if name != "" {
			q, ok := l.plans[name]
			if !ok {
				l.count(ctx, p, 0, outError, -1)
				return "", nil, l.unknownPlan(w, r, route, name)
			}
			p = q
		}
	}
	h := w.Header()
	h[keyRateLimitPolicy] = p.headerVals

	key, err := l.keyFunc(r)
	if err != nil {
		l.count(ctx, p, 0, outError, -1)
		return "", nil, err
	}
	cost := int64(1)
	if l.costFunc != nil {
		if cost, err = l.costFunc(r); err != nil {
			l.count(ctx, p, 0, outError, -1)
			return "", nil, err
		}
	}

	var res Result
	have := false
	if len(p.enforced) > 0 {
		// New checked the policies; a cost of 1 fits any of them.
		if cost != 1 {
			if err := CheckRequest(p.enforced, cost); err != nil {
				l.count(ctx, p, 0, outError, -1)
				return "", nil, costError(err)
			}
		}
		if res, err = l.take(ctx, key, p.enforced, cost); err != nil {
			l.count(ctx, p, 0, outError, -1)
			if ce := costError(err); ce != nil && !isStoreFailure(err) {
				return "", nil, ce
			}
			return key, p, l.storeFailed(w, r, route, err, l.closed)
		}
		l.outage.up(ctx, l.logger, "rate limit store", l.closed)
		res.Policy = p.enfIdx[res.Policy]
		if !res.Allowed {
			secs := errorsx.RetryAfterSeconds(res.RetryAfter)
			// Draft -10 §6: Retry-After is never earlier than t.
			h[keyRateLimit] = p.value(res.Policy, res.Remaining, min(p.reset(res.Decision, res.Policy), secs))
			l.count(ctx, p, res.Policy, outLimited, res.Remaining)
			return "", nil, errorsx.RateLimitExceeded().WithRetryAfter(time.Duration(secs) * time.Second)
		}
		have = true
	}
	outcome := outAllowed
	if len(p.shadow) > 0 {
		sres, err := l.take(ctx, key, p.shadow, cost)
		switch {
		case err == nil:
			l.outage.up(ctx, l.logger, "rate limit store", l.closed)
			sres.Policy = p.shIdx[sres.Policy]
			if !sres.Allowed {
				outcome, res, have = outShadowLimited, sres, true
				l.shadowLimited(w, r, route, key, p, sres)
			} else if !have || Combine([]Decision{res.Decision, sres.Decision}).Policy == 1 {
				res, have = sres, true
			}
		case !isStoreFailure(err):
			// A cost above a shadow policy's Burst: it would answer 400.
			outcome = outShadowLimited
		default:
			_ = l.storeFailed(w, r, route, err, false) // a shadow policy never refuses
		}
	}
	if !have {
		l.count(ctx, p, 0, outError, -1)
		return key, p, nil
	}
	h[keyRateLimit] = p.value(res.Policy, res.Remaining, p.reset(res.Decision, res.Policy))
	l.count(ctx, p, res.Policy, outcome, res.Remaining)
	return key, p, nil
}

// take is one timed store call; it checks the policy index the store
// reports.
func (l *Limiter) take(ctx context.Context, key string, policies []Policy, cost int64) (Result, error) {
	sctx, call := l.takeOp.Begin(ctx)
	res, err := l.store.Take(sctx, key, policies, cost)
	if err == nil && (res.Policy < 0 || res.Policy >= len(policies)) {
		err = fmt.Errorf("ratelimit: store reported policy %d of %d", res.Policy, len(policies))
	}
	call.End(err)
	return res, err
}

// count counts one decision and annotates the request's span when it is
// recording (remaining < 0: not known).
func (l *Limiter) count(ctx context.Context, p *plan, policy, outcome int, remaining int64) {
	l.decisions.Add(ctx, 1, p.opts[policy][outcome]...)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		kv := []attribute.KeyValue{
			telemetry.AttrRateLimitOutcome.String(outcomes[outcome]),
			telemetry.AttrRateLimitPolicy.String(p.policies[policy].NameOrDefault()),
		}
		if remaining >= 0 {
			kv = append(kv, telemetry.AttrRateLimitRemaining.Int64(remaining))
		}
		span.SetAttributes(kv...)
	}
}

func (l *Limiter) unknownPlan(w http.ResponseWriter, r *http.Request, route, name string) error {
	if len(name) > 64 {
		name = name[:64]
	}
	l.logger.LogAttrs(r.Context(), slog.LevelError, "rate limit plan unknown: PlanFunc returned a name that is not in Config.Plans",
		slog.String("request_id", errorsx.RequestID(w.Header(), r)),
		slog.String("route", route),
		slog.String("plan", name))
	return errorsx.Internal().WithCause(fmt.Errorf("%w: unknown plan %q", ErrInvalidConfig, name))
}

func (l *Limiter) storeFailed(w http.ResponseWriter, r *http.Request, route string, err error, closed bool) error {
	attrs := []slog.Attr{
		slog.String("request_id", errorsx.RequestID(w.Header(), r)),
		slog.String("route", route),
		slog.String("error", err.Error()),
	}
	l.outage.fail(r.Context(), l.logger, "rate limit store", closed, attrs)
	if closed {
		return errorsx.ServiceUnavailable().WithCause(err)
	}
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

// value returns the RateLimit header value of policy i; a negative t is
// left out (a full bucket: no more quota will come). It builds the value on
// the stack (a quoted name is at most 66 bytes, two int64s 40 more) and
// returns it as the header's value slice, in one allocation when short.
func (p *plan) value(i int, remaining, t int64) []string {
	var buf [128]byte
	b := buf[:0]
	b = append(b, p.names[i]...)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, max(remaining, 0), 10)
	if t >= 0 {
		b = append(b, ";t="...)
		b = strconv.AppendInt(b, t, 10)
	}
	return headerval.One(b)
}

// reset returns the t of the RateLimit header for decision d of policy i,
// with the meaning of the IETF httpapi ratelimit-headers draft -10
// (section 4.1.2): the seconds until more quota is available, that is until
// the bucket holds one more whole token than d.Remaining (rounded up, so at
// least 1), or -1 for a full bucket, which gains nothing by waiting.
func (p *plan) reset(d Decision, i int) int64 {
	if n := nextToken(d.ResetAfter, p.interval[i], p.refill[i]); n > 0 {
		return ceilSeconds(n)
	}
	return -1
}

// nextToken returns the time until a bucket whose theoretical arrival time
// lies ahead after now (a [Decision]'s ResetAfter) holds one more whole
// token than it does now, for tokens worth interval each and a capacity of
// refill ([Policy.Interval], [Policy.Refill]); 0 when ahead is 0 or less (a
// full bucket gains nothing by waiting). A bucket in debt (ahead beyond
// refill) first pays it. It is the t of the RateLimit header in the
// meaning of ratelimit-headers draft -10; a refused request's RetryAfter
// is never shorter (equal for a cost of 1).
func nextToken(ahead, interval, refill time.Duration) time.Duration {
	switch {
	case ahead <= 0 || interval <= 0:
		return 0
	case ahead >= refill:
		return ahead - refill + interval
	}
	if m := ahead % interval; m != 0 {
		return m
	}
	return interval
}

// The canonical spellings of the RateLimit headers (what Header.Set would
// compute per request).
var (
	keyRateLimitPolicy = http.CanonicalHeaderKey(HeaderRateLimitPolicy)
	keyRateLimit       = http.CanonicalHeaderKey(HeaderRateLimit)
)

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
// principal.FromContext), else [IPKey] of [ClientIP] (the direct TCP peer)
// with IPv6 clients grouped by their /64. It never fails.
func DefaultKey(r *http.Request) (string, error) {
	if p, ok := principal.FromContext(r.Context()); ok && p.KeyID != "" {
		return "key:" + p.KeyID, nil
	}
	return IPKey(ClientIP(r), DefaultIPv6PrefixLen), nil
}

// DefaultKeyFunc returns the default Config.KeyFunc for the client-IP
// function clientIP (nil means [ClientIP], and then it is [DefaultKey]):
// "key:" and the authenticated principal's KeyID when an auth guard put one
// into the request's context, else IPKey(clientIP(r), 64). [New] uses it,
// with Config.IPv6PrefixLen, when Config.KeyFunc is nil; a custom KeyFunc
// may wrap it (e.g. to add a tenant). The returned function never fails.
func DefaultKeyFunc(clientIP func(r *http.Request) string) func(r *http.Request) (string, error) {
	return defaultKeyFunc(clientIP, DefaultIPv6PrefixLen)
}

func defaultKeyFunc(clientIP func(r *http.Request) string, bits int) func(r *http.Request) (string, error) {
	if bits == 0 {
		bits = DefaultIPv6PrefixLen
	}
	if clientIP == nil && bits == DefaultIPv6PrefixLen {
		return DefaultKey
	}
	if clientIP == nil {
		clientIP = ClientIP
	}
	return func(r *http.Request) (string, error) {
		if p, ok := principal.FromContext(r.Context()); ok && p.KeyID != "" {
			return "key:" + p.KeyID, nil
		}
		return IPKey(clientIP(r), bits), nil
	}
}

// DefaultIPv6PrefixLen is the prefix length by which the default key groups
// IPv6 clients: a /64, the smallest network one host usually gets.
const DefaultIPv6PrefixLen = 64

// IPKey returns the rate-limit key of an anonymous client at address ip:
// "ip:" and the IPv4 address as given for IPv4 (and for an IPv4-mapped IPv6
// address, "ip:192.0.2.1" for "::ffff:192.0.2.1"); for IPv6, "ip:" and the
// network of its first ipv6PrefixLen bits, e.g. "ip:2001:db8:1:2::/64", or
// the address itself (canonical, without zone) when ipv6PrefixLen is 128.
// An ipv6PrefixLen outside 1–128 means 64. A string that is not an IP
// address is kept as given ("ip:" + ip). It allocates only the returned
// string.
func IPKey(ip string, ipv6PrefixLen int) string {
	if strings.IndexByte(ip, ':') < 0 {
		return "ip:" + ip
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "ip:" + ip
	}
	var buf [64]byte
	b := append(buf[:0], "ip:"...)
	a = a.WithZone("")
	switch {
	case a.Is4In6():
		b = a.Unmap().AppendTo(b)
	case ipv6PrefixLen == 128:
		b = a.AppendTo(b)
	default:
		if ipv6PrefixLen < 1 || ipv6PrefixLen > 128 {
			ipv6PrefixLen = DefaultIPv6PrefixLen
		}
		pfx, _ := a.Prefix(ipv6PrefixLen)
		b = pfx.AppendTo(b)
	}
	return string(b)
}

// PrincipalPlan is the default Config.PlanFunc: the plan named in the
// authenticated principal's Metadata[MetadataPlan] (set with the caller's
// API key, see principal.Principal), or "" (the default plan) when there is
// no principal or no such entry. It never fails.
func PrincipalPlan(r *http.Request) (string, error) {
	if p, ok := principal.FromContext(r.Context()); ok {
		return p.Metadata[MetadataPlan], nil
	}
	return "", nil
}

// MetadataPlan is the principal.Principal Metadata entry that
// [PrincipalPlan] reads: the caller's plan, a key of Config.Plans.
const MetadataPlan = "plan"

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
