package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/principal"
)

// Defaults of [ConcurrencyConfig].
const (
	// DefaultConcurrencyName is the policy name of a concurrency limit
	// whose ConcurrencyConfig.Name is empty.
	DefaultConcurrencyName = "inflight"

	// DefaultConcurrencyLease is the lease of a slot when
	// ConcurrencyConfig.Lease is zero.
	DefaultConcurrencyLease = 30 * time.Second

	// MinConcurrencyLease is the shortest lease NewConcurrency accepts: a
	// slot is renewed every lease/3, and the Redis store counts in
	// milliseconds.
	MinConcurrencyLease = 30 * time.Millisecond
)

// QuotaUnitConcurrentRequests is the quota unit of a concurrency limit in
// the RateLimit-Policy header: the "qu" parameter value that the IETF
// httpapi ratelimit-headers draft registers for "the number of concurrent
// requests processed by the resource server".
const QuotaUnitConcurrentRequests = "concurrent-requests"

// ErrSlotLost is returned by [ConcurrencyStore.Renew] when the store does
// not hold the slot any more: its lease ran out before the renewal, it was
// released, or the store forgot it (a Redis restarted without persistence).
var ErrSlotLost = errors.New("ratelimit: concurrency slot lost")

// ConcurrencyStore keeps the slots of a concurrency limit: for each caller
// key, the tokens of the requests in flight, each with the end of its
// lease. A slot whose lease has ended no longer counts, so a slot held by a
// process that died frees itself after one lease.
//
// Each method is one atomic step, so two requests racing for the last slot
// never both get it. The guard calls Renew with a deadline of Lease/3 and
// Release with a context that has none (no timer per request), so a store
// must bound its own calls, as redisstore does with its Timeout.
// Implementations must be safe for concurrent use. The
// in-memory store ([NewMemoryConcurrencyStore]) is the default; package
// redisstore shares slots between server instances through Redis (see
// redisstore.NewConcurrency); package concstoretest is the behaviour suite
// both pass.
type ConcurrencyStore interface {
	// Acquire takes a slot for caller key when fewer than limit unexpired
	// slots are held, with a lease ending lease from now, and returns its
	// token. When limit slots are held it changes nothing and reports
	// Acquired false. InFlight is the number of unexpired slots after the
	// call, the new one included. An error means the store could not
	// decide.
	Acquire(ctx context.Context, key string, limit int64, lease time.Duration) (ConcurrencyResult, error)

	// Renew moves the end of the lease of the slot token of key to lease
	// from now. It returns an error wrapping [ErrSlotLost] when the slot is
	// not held (released, expired or forgotten); it never takes a slot.
	// Any other error means the store could not be reached.
	Renew(ctx context.Context, key, token string, lease time.Duration) error

	// Release frees the slot token of key. Releasing a slot that is not
	// held is not an error. An error means the store could not be
	// reached; the slot then frees itself when its lease ends.
	Release(ctx context.Context, key, token string) error
}

// ConcurrencyResult is the answer of [ConcurrencyStore.Acquire].
type ConcurrencyResult struct {
	// Acquired is true when a slot was taken.
	Acquired bool

	// Token identifies the slot taken, for Renew and Release. Empty when
	// Acquired is false.
	Token string

	// InFlight is the number of unexpired slots of the key after the call,
	// the one taken included.
	InFlight int64
}

// ConcurrencyConfig configures [NewConcurrency]. Only Limit is required;
// every other zero field means the documented default. Every callback takes
// the *http.Request, so one ConcurrencyConfig serves every front door
// (a guard.Guard, [Concurrency.Serve], that every door mounts with its Use).
type ConcurrencyConfig struct {
	// Limit is the number of requests of one caller that may be in flight
	// at once. At least 1.
	Limit int

	// Name is the policy name in the RateLimit-Policy and RateLimit
	// headers, and part of the store key: two guards with the same Name
	// and store share their slots per caller (one limit across routes);
	// give per-route limits their own names. Empty means
	// [DefaultConcurrencyName] ("inflight"). The rules of [Policy] names
	// apply (letters, digits, '.', '_', '-'; at most 64 bytes); it should
	// differ from the names of the route's rate-limit policies.
	Name string

	// Skip returns true for requests the guard ignores: they take no slot
	// and get no headers. Nil means none is skipped.
	Skip func(r *http.Request) bool

	// KeyFunc returns the caller's key: requests with the same key share
	// the Limit. Nil means "tenant:" and the authenticated principal's
	// Tenant, else "key:" and its KeyID, else "ip:" and the client IP of
	// ClientIP (see [DefaultKeyFunc] for the last two). An error is
	// returned as the request's error.
	KeyFunc func(r *http.Request) (string, error)

	// ClientIP returns the client's IP address for the default key (it is
	// not used when KeyFunc is set). Nil means [ClientIP]: the direct TCP
	// peer; a raw X-Forwarded-For header is never trusted. Echo apps
	// behind a proxy pass e.IPExtractor.
	ClientIP func(r *http.Request) string

	// Store keeps the slots. Nil means a new [MemoryConcurrencyStore],
	// private to this guard (slots then count per process).
	Store ConcurrencyStore

	// Lease is how long a slot counts without being renewed. While the
	// handler runs, the guard renews it every Lease/3, so a slow handler
	// keeps its slot; a slot whose process died frees itself after at
	// most one Lease. Zero means [DefaultConcurrencyLease] (30s); at
	// least [MinConcurrencyLease].
	Lease time.Duration

	// RetryAfter is the Retry-After hint of a refused request, rounded up
	// to whole seconds (at least 1): the guard cannot know when a running
	// request will end. Zero means one second.
	RetryAfter time.Duration

	// FailClosed makes the guard answer 503 service_unavailable (with
	// Retry-After) when the store cannot take a slot (e.g. Redis is down).
	// The default, false, fails open: the request runs without a slot.
	// Either way the outage is logged once when it begins and once when
	// the store answers again (with the number of requests it allowed or
	// refused), not once per request. A store error is never reported as
	// a 429.
	FailClosed bool

	// Logger receives store failures (level Error when an outage begins
	// failing closed, Warn otherwise: an outage failing open, its end, a
	// failed renewal or release). Nil means slog.Default().
	Logger *slog.Logger
}

// Concurrency is the framework-neutral concurrency limit that
// [NewConcurrency] builds: at most Limit requests in flight per caller. The
// front doors call [Concurrency.Acquire] before the handler and the release
// function it returns after it. It is safe for concurrent use.
type Concurrency struct {
	skip       func(*http.Request) bool
	keyFunc    func(*http.Request) (string, error)
	clientIP   func(*http.Request) string
	store      ConcurrencyStore
	logger     *slog.Logger
	closed     bool
	limit      int64
	lease      time.Duration
	every      time.Duration
	retryAfter int64 // seconds
	prefix     string

	policyHeader []string   // RateLimit-Policy value, cap 1
	remaining    [][]string // RateLimit values for r = 0..len-1, cap 1
	refused      []string   // RateLimit value of a 429
	quotedName   string

	outage outage // the store's failures, logged once per outage
}

// Canonical header keys, for direct access to the http.Header map.
var (
	concPolicyKey    = http.CanonicalHeaderKey(HeaderRateLimitPolicy)
	concRateLimitKey = http.CanonicalHeaderKey(HeaderRateLimit)
	concRequestIDKey = http.CanonicalHeaderKey("X-Request-Id")
)

// concMaxPrecomputed bounds the RateLimit header values built in advance.
const concMaxPrecomputed = 256

// NewConcurrency returns the concurrency limit configured by cfg, or an
// error wrapping [ErrInvalidPolicy] for an invalid configuration (Limit
// below 1, an invalid Name, a Lease below [MinConcurrencyLease] or a
// negative RetryAfter). See [Concurrency.Acquire] for what it does per
// request.
func NewConcurrency(cfg ConcurrencyConfig) (*Concurrency, error) {
	name := cfg.Name
	if name == "" {
		name = DefaultConcurrencyName
	}
	if err := (Policy{Name: name, Rate: 1}).Validate(); err != nil {
		return nil, err
	}
	switch {
	case cfg.Limit < 1:
		return nil, fmt.Errorf("%w %q: concurrency Limit %d must be at least 1", ErrInvalidPolicy, name, cfg.Limit)
	case cfg.Lease != 0 && cfg.Lease < MinConcurrencyLease:
		return nil, fmt.Errorf("%w %q: concurrency Lease %v is below %v", ErrInvalidPolicy, name, cfg.Lease, MinConcurrencyLease)
	case cfg.RetryAfter < 0:
		return nil, fmt.Errorf("%w %q: negative concurrency RetryAfter %v", ErrInvalidPolicy, name, cfg.RetryAfter)
	}
	c := &Concurrency{
		skip:       cfg.Skip,
		keyFunc:    cfg.KeyFunc,
		clientIP:   cfg.ClientIP,
		store:      cfg.Store,
		logger:     cfg.Logger,
		closed:     cfg.FailClosed,
		limit:      int64(cfg.Limit),
		lease:      cfg.Lease,
		retryAfter: 1,
		prefix:     name + ":",
		quotedName: strconv.Quote(name),
	}
	if cfg.RetryAfter > 0 {
		c.retryAfter = errorsx.RetryAfterSeconds(cfg.RetryAfter)
	}
	if c.lease == 0 {
		c.lease = DefaultConcurrencyLease
	}
	c.every = c.lease / 3
	if c.clientIP == nil {
		c.clientIP = ClientIP
	}
	if c.store == nil {
		c.store = NewMemoryConcurrencyStore(MemoryConcurrencyConfig{})
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	c.policyHeader = concValue(c.quotedName + ";q=" + strconv.Itoa(cfg.Limit) + `;qu="` + QuotaUnitConcurrentRequests + `"`)
	n := min(cfg.Limit, concMaxPrecomputed-1) + 1
	c.remaining = make([][]string, n)
	for r := range n {
		c.remaining[r] = concValue(c.quotedName + ";r=" + strconv.Itoa(r))
	}
	c.refused = concValue(c.quotedName + ";r=0;t=" + strconv.FormatInt(c.retryAfter, 10))
	return c, nil
}

// concValue returns the header value list {v} with its capacity at its length, so
// that http.Header.Add on a shared list copies it instead of writing into
// it.
func concValue(v string) []string { return []string{v}[:1:1] }

// defaultKey is the default key, with the guard's prefix: "tenant:" and the
// principal's tenant, else "key:" and its key id, else "ip:" and the
// client IP (as DefaultKeyFunc). It builds the key in one allocation.
func (c *Concurrency) defaultKey(r *http.Request) string {
	if p, ok := principal.FromContext(r.Context()); ok {
		if p.Tenant != "" {
			return c.prefix + "tenant:" + p.Tenant
		}
		if p.KeyID != "" {
			return c.prefix + "key:" + p.KeyID
		}
	}
	return c.prefix + "ip:" + c.clientIP(r)
}

// concNoRelease is the release function of a request that holds no slot.
func concNoRelease() {}

// Acquire takes a slot for request r of the route (the route pattern, for
// log lines only) and returns the function that frees it: the front door
// calls it once the handler has returned, also when it panicked (a
// deferred call). release is never nil, and calling it more than once does
// nothing; when Acquire returns an error or takes no slot (skipped, store
// failed open) it is a no-op. Acquire never writes a body.
//
// While the slot is held it is renewed every Lease/3 (one store call, on a
// timer, only for requests that last that long), so a slow handler keeps
// its slot and a slot of a process that died frees itself after one Lease.
// If a renewal finds that the store lost the slot (a Redis restarted
// empty), the guard takes a slot again when one is free; else the request
// runs on uncounted and a warning is logged. A request is never cancelled
// by the guard.
//
// For every request that ConcurrencyConfig.Skip does not skip, Acquire adds
// to w.Header(), following the IETF httpapi ratelimit-headers draft, which
// registers the quota unit "concurrent-requests" for exactly this:
//
//	RateLimit-Policy: "inflight";q=2;qu="concurrent-requests"
//	RateLimit: "inflight";r=1
//
// q is Limit, r the slots left to the caller once this request took its
// own (no t: a slot has no time window). On a 429 it is "inflight";r=0;t=1:
// t, in the meaning of ratelimit-headers draft -10 (the seconds until more
// quota is available), is the guard's estimate of when a slot frees,
// ConcurrencyConfig.RetryAfter, and equals Retry-After (never earlier than
// t, draft -10 section 6; the renderer raises Retry-After when a rate
// limiter's item on the same response says more). The fields are added (http.Header.Add), not set,
// so a rate limiter's policies on the same route stay listed: a structured
// list may be split over several field lines. RateLimit is omitted when
// the store could not answer.
//
// Errors: errorsx.RateLimitExceeded (429) with Retry-After set to
// ConcurrencyConfig.RetryAfter (whole seconds, at least 1) when Limit
// requests of the caller are in flight; errorsx.ServiceUnavailable (503)
// when the store fails and FailClosed is set (failing open, Acquire logs
// and returns a no-op release and nil); and the error of KeyFunc as it
// returned it. A store failure is logged with the request id (taken from
// or set on w.Header(), see errorsx.RequestID), the route and the cause,
// never the caller key.
func (c *Concurrency) Acquire(w http.ResponseWriter, r *http.Request, route string) (release func(), err error) {
	if c.skip != nil && c.skip(r) {
		return concNoRelease, nil
	}
	h := w.Header()
	concAddHeader(h, concPolicyKey, c.policyHeader)
	var key string
	if c.keyFunc == nil {
		key = c.defaultKey(r)
	} else {
		k, err := c.keyFunc(r)
		if err != nil {
			return concNoRelease, err
		}
		key = c.prefix + k
	}
	res, err := c.store.Acquire(r.Context(), key, c.limit, c.lease)
	if err == nil && res.Acquired && res.Token == "" {
		err = errors.New("ratelimit: concurrency store acquired a slot without a token")
	}
	if err != nil {
		attrs := []slog.Attr{
			slog.String("request_id", errorsx.RequestID(h, r)),
			slog.String("route", route),
			slog.String("error", err.Error()),
		}
		c.outage.fail(r.Context(), c.logger, "concurrency store", c.closed, attrs)
		if c.closed {
			return concNoRelease, errorsx.ServiceUnavailable().WithCause(err)
		}
		return concNoRelease, nil
	}
	c.outage.up(r.Context(), c.logger, "concurrency store", c.closed)
	if !res.Acquired {
		concAddHeader(h, concRateLimitKey, c.refused)
		return concNoRelease, errorsx.RateLimitExceeded().WithRetryAfter(time.Duration(c.retryAfter) * time.Second)
	}
	left := max(c.limit-res.InFlight, 0)
	if left < int64(len(c.remaining)) {
		concAddHeader(h, concRateLimitKey, c.remaining[left])
	} else {
		concAddHeader(h, concRateLimitKey, concValue(c.quotedName+";r="+strconv.FormatInt(left, 10)))
	}
	s := &concSlot{c: c, key: key, token: res.Token, route: route, reqID: concFirst(h[concRequestIDKey])}
	s.mu.Lock()
	s.timer = time.AfterFunc(c.every, s.renew)
	s.mu.Unlock()
	return s.release, nil
}

// concAddHeader adds the values vs (a list of cap 1) to h[key] without
// allocating when the field is absent.
func concAddHeader(h http.Header, key string, vs []string) {
	if old, ok := h[key]; ok {
		h[key] = append(old, vs...)
		return
	}
	h[key] = vs
}

func concFirst(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// concSlot is one slot held by a running request. Its mutex orders the
// renewals (run on the timer's goroutine) and the release (on the
// request's), so that no store call for the slot follows its release. The
// lock is per request: the only call it can make wait is the release of the
// same request, for at most one renewal.
type concSlot struct {
	c     *Concurrency
	key   string
	route string
	reqID string

	mu     sync.Mutex
	token  string // "" once the slot is lost
	timer  *time.Timer
	done   bool
	warned bool // a renewal failure was logged
}

// renew runs on the timer: it extends the lease, takes a slot again when
// the store lost it, and schedules the next renewal.
func (s *concSlot) renew() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done || s.token == "" {
		return
	}
	c := s.c
	ctx, cancel := context.WithTimeout(context.Background(), c.every)
	defer cancel()
	err := c.store.Renew(ctx, s.key, s.token, c.lease)
	switch {
	case err == nil:
		s.timer.Reset(c.every)
	case errors.Is(err, ErrSlotLost):
		res, aerr := c.store.Acquire(ctx, s.key, c.limit, c.lease)
		switch {
		case aerr == nil && res.Acquired && res.Token != "":
			s.token = res.Token
			s.timer.Reset(c.every)
			s.log("concurrency store lost a running request's slot; took a slot again", err)
		case aerr != nil:
			// Try again soon: until then the request is not counted.
			s.log("concurrency store lost a running request's slot and could not take one again", aerr)
			s.timer.Reset(c.every / 2)
		default:
			s.token = ""
			s.log("concurrency store lost a running request's slot and the caller's slots are taken; the request runs on uncounted", err)
		}
	default:
		if !s.warned {
			s.warned = true
			s.log("concurrency slot renewal failed; retrying", err)
		}
		s.timer.Reset(c.every / 2)
	}
}

func (s *concSlot) log(msg string, err error) {
	s.c.logger.LogAttrs(context.Background(), slog.LevelWarn, msg,
		slog.String("request_id", s.reqID), slog.String("route", s.route), slog.String("error", err.Error()))
}

// release frees the slot once; later calls do nothing.
func (s *concSlot) release() {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return
	}
	s.done = true
	s.timer.Stop()
	token := s.token
	s.mu.Unlock()
	if token == "" {
		return
	}
	// No deadline of our own (a timer per request is dear): the store
	// bounds its calls, as redisstore does with its Timeout.
	if err := s.c.store.Release(context.Background(), s.key, token); err != nil {
		s.log("concurrency slot release failed; it frees itself when its lease ends", err)
	}
}
