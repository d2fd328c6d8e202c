package idempotency

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/bodyread"
	"github.com/clipia/apiguard/internal/echoroute"
	"github.com/clipia/apiguard/principal"
	"github.com/labstack/echo/v4"
)

// Defaults of [Config].
const (
	DefaultRetention       = 24 * time.Hour
	DefaultLease           = 30 * time.Second
	DefaultRetryAfter      = time.Second
	DefaultMaxRequestBody  = 1 << 20
	DefaultMaxResponseSize = 1 << 20
)

// Config configures [New]. The zero value is valid: POST, PATCH, PUT and
// DELETE are guarded when they carry an Idempotency-Key, records live in a
// new [MemoryStore], scoped by [DefaultScope].
type Config struct {
	// Skipper skips the middleware when it returns true. Nil runs it always.
	Skipper func(c echo.Context) bool

	// Store keeps the records. Nil means a new [MemoryStore] with default
	// settings, private to this middleware (its sweeper stops when the
	// middleware is garbage collected). Share one store between the
	// middlewares of several routes or processes by setting it here.
	Store Store

	// Methods are the HTTP methods guarded. Nil or empty means POST,
	// PATCH, PUT and DELETE. Requests with other methods pass untouched.
	Methods []string

	// Required makes the key mandatory on the guarded methods: a request
	// without it answers 400 invalid_request with param "Idempotency-Key".
	// Install a separate middleware on the routes that require it.
	Required bool

	// Scope returns the namespace of a request's keys; two scopes never
	// share a record. An error is returned to the renderer as is. Nil means
	// [DefaultScope] (the principal's tenant, else its key id, else the
	// client IP).
	Scope func(c echo.Context) (string, error)

	// Retention is how long a completed response is kept and replayed.
	// Zero means 24 hours.
	Retention time.Duration

	// Lease is how long a claim stays in progress when its owner stops
	// renewing it. While the handler runs, the claim is renewed every
	// Lease/3 (one store call each), so a handler slower than the lease
	// still runs once; when the owning process dies, the key is free again
	// after at most one lease. A failed commit is retried in the background
	// for as long as the claim is held, so a store outage shorter than what
	// is left of the lease (at least two thirds of it) loses no response.
	// Zero means 30 seconds.
	Lease time.Duration

	// RetryAfter is the hint sent as Retry-After (whole seconds, at least
	// 1) with 409 request_in_progress. Zero means 1 second.
	RetryAfter time.Duration

	// MaxRequestBody is the most request-body bytes read to compute the
	// fingerprint; a longer body answers 400 invalid_request. The body is
	// restored for the handler. Zero means 1 MiB.
	MaxRequestBody int64

	// MaxResponseSize is the largest response body stored. A longer
	// response reaches the client but is not stored: the claim is
	// released (and logged), so a retry runs again. Zero means 1 MiB.
	MaxResponseSize int

	// StoredHeaders are the response headers stored and replayed. Nil
	// means Content-Type, Location, ETag and X-Should-Retry. Set-Cookie,
	// Date, X-Request-Id, Request-Id, Retry-After, Content-Length,
	// Transfer-Encoding, Connection, Idempotent-Replayed and the RateLimit
	// headers describe one response, not its outcome: naming one is a
	// configuration error.
	StoredHeaders []string

	// Logger receives store failures during commit or release, and
	// responses that could not be stored. Nil means slog.Default().
	Logger *slog.Logger

	// Pending, when set, counts this middleware's background work (claims
	// kept alive, commits retried after a store failure), so that
	// [Pending.Wait] can wait for it at shutdown or in tests. Nil means
	// the work is not counted; it ends by itself all the same.
	Pending *Pending
}

// forbiddenStored are headers never stored, whatever the configuration.
var forbiddenStored = map[string]bool{
	"Set-Cookie": true, "Set-Cookie2": true, "Date": true,
	errorsx.HeaderRequestID: true, errorsx.HeaderRequestIDStripe: true, errorsx.HeaderRetryAfter: true,
	"Content-Length": true, "Transfer-Encoding": true, "Connection": true, "Trailer": true,
	HeaderIdempotentReplayed: true,
}

func forbiddenHeader(k string) bool {
	l := strings.ToLower(k)
	return forbiddenStored[k] || strings.HasPrefix(l, "ratelimit") || strings.HasPrefix(l, "x-ratelimit")
}

type idem struct {
	skipper    func(echo.Context) bool
	store      Store
	methods    map[string]bool
	required   bool
	scope      func(echo.Context) (string, error)
	retention  time.Duration
	lease      time.Duration
	retryAfter time.Duration
	maxReq     int64
	maxResp    int
	allow      []string
	allowSet   map[string]bool
	log        *slog.Logger
	pending    *Pending
	local      localPending
}

// New returns the idempotency middleware.
//
// On a guarded method with an Idempotency-Key (see [ParseKey]; a bad key
// answers 400 invalid_request, param "Idempotency-Key"), it computes the
// request's [Fingerprint] and claims the record of scope + method + route +
// key in the store, in one atomic step:
//
//   - new key: the handler runs; its response, as the client saw it (an
//     error the handler returns is rendered first, with c.Error), is
//     committed with status, body and the StoredHeaders. 5xx, 429 and other
//     retryable outcomes, panics (re-panicked after the release), cancelled
//     requests, responses that were flushed, hijacked or larger than
//     MaxResponseSize are not stored: the claim is released so a retry runs
//     again;
//   - same key, other fingerprint: 409 idempotency_key_reuse, checked before
//     the in-progress state;
//   - same key, still running: 409 request_in_progress with Retry-After;
//   - same key, completed: the stored status, body and headers are written
//     with Idempotent-Replayed: true, and the handler does not run.
//
// While the handler runs, its claim is renewed every Lease/3; if the claim
// is lost anyway (the store unreachable until the lease ended, or the key
// taken over), the handler's context is cancelled with cause [ErrLeaseLost]
// and its response is not stored. A store that cannot be reached for the
// claim answers 503 service_unavailable and the handler does not run. A
// commit that fails is retried in the background while the claim is held
// (the client waits for the first attempt, at most half a second;
// duplicates meanwhile get 409 request_in_progress); a response that still
// could not be stored is logged at Error. New returns an error for a negative duration or size, an empty
// method, or a forbidden stored header.
func New(cfg Config) (echo.MiddlewareFunc, error) {
	m := &idem{
		skipper:    cfg.Skipper,
		store:      cfg.Store,
		required:   cfg.Required,
		scope:      cfg.Scope,
		retention:  cfg.Retention,
		lease:      cfg.Lease,
		retryAfter: cfg.RetryAfter,
		maxReq:     cfg.MaxRequestBody,
		maxResp:    cfg.MaxResponseSize,
		log:        cfg.Logger,
		pending:    cfg.Pending,
	}
	switch {
	case cfg.Retention < 0:
		return nil, errors.New("idempotency: Retention must not be negative")
	case cfg.Lease < 0:
		return nil, errors.New("idempotency: Lease must not be negative")
	case cfg.RetryAfter < 0:
		return nil, errors.New("idempotency: RetryAfter must not be negative")
	case cfg.MaxRequestBody < 0:
		return nil, errors.New("idempotency: MaxRequestBody must not be negative")
	case cfg.MaxResponseSize < 0:
		return nil, errors.New("idempotency: MaxResponseSize must not be negative")
	}
	if m.retention == 0 {
		m.retention = DefaultRetention
	}
	if m.lease == 0 {
		m.lease = DefaultLease
	}
	if m.retryAfter == 0 {
		m.retryAfter = DefaultRetryAfter
	}
	if m.maxReq == 0 {
		m.maxReq = DefaultMaxRequestBody
	}
	if m.maxResp == 0 {
		m.maxResp = DefaultMaxResponseSize
	}
	if m.scope == nil {
		m.scope = DefaultScope
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.pending == nil {
		m.pending = new(Pending)
	}
	methods := cfg.Methods
	if len(methods) == 0 {
		methods = []string{http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete}
	}
	m.methods = make(map[string]bool, len(methods))
	for _, meth := range methods {
		meth = strings.ToUpper(strings.TrimSpace(meth))
		if meth == "" {
			return nil, errors.New("idempotency: empty method in Methods")
		}
		m.methods[meth] = true
	}
	stored := cfg.StoredHeaders
	if stored == nil {
		stored = []string{echo.HeaderContentType, echo.HeaderLocation, "ETag", errorsx.HeaderShouldRetry}
	}
	m.allowSet = make(map[string]bool, len(stored))
	for _, h := range stored {
		k := http.CanonicalHeaderKey(strings.TrimSpace(h))
		if k == "" {
			return nil, errors.New("idempotency: empty header name in StoredHeaders")
		}
		if forbiddenHeader(k) {
			return nil, fmt.Errorf("idempotency: header %s must never be stored", k)
		}
		if !m.allowSet[k] {
			m.allowSet[k] = true
			m.allow = append(m.allow, k)
		}
	}
	if m.store == nil {
		m.store = NewMemoryStore(MemoryConfig{})
	}
	return m.middleware, nil
}

// DefaultScope is the default Config.Scope: "tenant:" and the tenant of the
// principal that the auth middleware put into the request's context
// (principal.FromContext), else "key:" and its key id; without a principal,
// "ip:" and the client IP, as the Echo instance's IPExtractor sees it when
// one is configured, else the address of the direct peer (never
// X-Forwarded-For, which a client could forge to reach another client's
// records).
func DefaultScope(c echo.Context) (string, error) {
	if p, ok := principal.FromContext(c.Request().Context()); ok {
		if p.Tenant != "" {
			return "tenant:" + p.Tenant, nil
		}
		if p.KeyID != "" {
			return "key:" + p.KeyID, nil
		}
	}
	if e := c.Echo(); e != nil && e.IPExtractor != nil {
		return "ip:" + c.RealIP(), nil
	}
	return "ip:" + echo.ExtractIPDirect()(c.Request()), nil
}

// RecordKey returns the store key of a request: scope, method, route (the
// Echo route pattern, c.Path()) and the client's key, joined by "|" with
// "%" and "|" percent-escaped in each part, so different parts never make
// the same key.
func RecordKey(scope, method, route, key string) string {
	var b strings.Builder
	b.Grow(len(scope) + len(method) + len(route) + len(key) + 3)
	escapeTo(&b, scope)
	b.WriteByte('|')
	escapeTo(&b, method)
	b.WriteByte('|')
	escapeTo(&b, route)
	b.WriteByte('|')
	escapeTo(&b, key)
	return b.String()
}

func escapeTo(b *strings.Builder, s string) {
	if !strings.ContainsAny(s, "%|") {
		b.WriteString(s)
		return
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '%':
			b.WriteString("%25")
		case '|':
			b.WriteString("%7C")
		default:
			b.WriteByte(s[i])
		}
	}
}

func badKey(msg string) *errorsx.Error {
	return errorsx.InvalidRequest().WithParam(HeaderIdempotencyKey).WithMessage(msg)
}

func (m *idem) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !echoroute.Matched(c) {
			// An unknown route is a 404 whoever sees it first: no claim.
			return errorsx.NotFound()
		}
		req := c.Request()
		if (m.skipper != nil && m.skipper(c)) || !m.methods[req.Method] {
			return next(c)
		}
		vals := req.Header.Values(HeaderIdempotencyKey)
		switch len(vals) {
		case 0:
			if m.required {
				return badKey(errKeyMissing.Error())
			}
			return next(c)
		case 1:
		default:
			return badKey(errKeyMultiple.Error())
		}
		key, err := ParseKey(vals[0])
		if err != nil {
			return badKey(err.Error())
		}
		body, err := m.readBody(c)
		if err != nil {
			return err
		}
		scope, err := m.scope(c)
		if err != nil {
			return err
		}
		route := c.Path()
		// The fingerprint takes the path as sent, not the route pattern:
		// path parameters are request parameters, so the same key on
		// /x/1 and then /x/2 is a changed request (409), never a replay.
		fp := Fingerprint(req.Method, req.URL.EscapedPath(), req.URL.RawQuery, req.Header.Get(echo.HeaderContentType), body)
		rk := RecordKey(scope, req.Method, route, key)

		if pfp, ok := m.local.lookup(rk); ok {
			// This process still stores the first response (see holder.commit).
			if pfp != fp {
				return errorsx.IdempotencyKeyReuse()
			}
			return errorsx.RequestInProgress().WithRetryAfter(m.retryAfter)
		}
		claimedAt := time.Now()
		res, err := m.store.Claim(req.Context(), rk, fp, m.lease)
		if err != nil {
			return errorsx.ServiceUnavailable().WithCause(fmt.Errorf("idempotency: claim: %w", err))
		}
		if !res.Claimed {
			rec := res.Record
			switch {
			case rec.Fingerprint != fp:
				return errorsx.IdempotencyKeyReuse()
			case rec.State == StateCompleted && rec.Response != nil:
				return m.replay(c, rec.Response)
			case rec.State == StateCompleted:
				return errorsx.ServiceUnavailable().WithCause(errors.New("idempotency: completed record without a response"))
			}
			return errorsx.RequestInProgress().WithRetryAfter(m.retryAfter)
		}
		return m.run(c, next, rk, fp, res.Token, claimedAt)
	}
}

type restoredBody struct {
	*bytes.Reader
	io.Closer
}

func (m *idem) readBody(c echo.Context) ([]byte, error) {
	req := c.Request()
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	// The one body reader: size limit, and a slow body cut off with 400
	// within the request's read deadline.
	b, rerr := bodyread.Read(nil, c.Response(), req, m.maxReq, 0)
	if rerr != nil {
		return nil, rerr
	}
	req.Body = restoredBody{bytes.NewReader(b), req.Body}
	return b, nil
}

func (m *idem) replay(c echo.Context, r *Response) error {
	res := c.Response()
	h := res.Header()
	for k, vs := range r.Header {
		if m.allowSet[k] {
			h[k] = append([]string(nil), vs...)
		}
	}
	if r.Status >= 400 && h.Get(errorsx.HeaderShouldRetry) == "" {
		// Only outcomes that must not be retried are stored.
		h.Set(errorsx.HeaderShouldRetry, "false")
	}
	h.Set(HeaderIdempotentReplayed, "true")
	if r.Status != http.StatusNoContent && r.Status != http.StatusNotModified {
		h.Set(echo.HeaderContentLength, strconv.Itoa(len(r.Body)))
	}
	res.WriteHeader(r.Status)
	if c.Request().Method != http.MethodHead && len(r.Body) > 0 {
		if _, err := res.Write(r.Body); err != nil {
			m.log.LogAttrs(c.Request().Context(), slog.LevelDebug, "idempotency: writing replay",
				slog.String("request_id", errorsx.RequestID(c.Response().Header(), c.Request())), slog.String("error", err.Error()))
		}
	}
	return nil
}

// run runs the handler as the owner of the claim (rk, token), made at
// claimedAt, while a holder keeps the claim alive; then commits or releases.
// The handler's context is cancelled with cause ErrLeaseLost when the claim
// is lost.
func (m *idem) run(c echo.Context, next echo.HandlerFunc, rk, fp, token string, claimedAt time.Time) error {
	req := c.Request()
	ctx, cancel := context.WithCancelCause(req.Context())
	h := m.hold(req.Context(), cancel, rk, fp, token, claimedAt, errorsx.RequestID(c.Response().Header(), c.Request()), c.Path())
	c.SetRequest(req.WithContext(ctx))
	res := c.Response()
	cw := &captureWriter{ResponseWriter: res.Writer, allow: m.allow, limit: m.maxResp}
	res.Writer = cw
	finished := false
	defer func() {
		res.Writer = cw.ResponseWriter
		if !finished { // the handler panicked: release, and let the panic go on
			m.release(c, h, "panic")
		}
		c.SetRequest(req)
		cancel(context.Canceled)
	}()
	// Render now, so the response is captured as the client sees it;
	// errorsx.Rendered marks the error, so Echo's own call of the
	// renderer with the returned error writes and logs nothing a second
	// time (what middleware.Render does; this package does not import
	// middleware).
	err := next(c)
	if err != nil && !errorsx.IsRendered(err) {
		c.Error(err)
		err = errorsx.Rendered(err)
	}
	finished = true

	var reason string
	switch {
	case cw.status == 0:
		reason = "no response was written"
	case cw.streamed:
		reason = "the response was streamed"
	case cw.over:
		reason = "the response is larger than MaxResponseSize"
	case req.Context().Err() != nil:
		reason = "the request was cancelled"
	case cw.status >= 500 || cw.status == http.StatusTooManyRequests:
		reason = "status " + strconv.Itoa(cw.status) + " is retryable"
	case cw.status >= 400 && cw.shouldRetry:
		reason = "the response says X-Should-Retry: true"
	}
	if reason != "" {
		m.release(c, h, reason)
		return err
	}
	resp := Response{Status: cw.status, Header: cw.header, Body: cw.body}
	if resp.Body == nil {
		resp.Body = []byte{}
	}
	if cerr := h.end(&resp); cerr != nil { // the claim was lost while the handler ran
		m.recordLost(context.WithoutCancel(req.Context()), errorsx.RequestID(c.Response().Header(), c.Request()), c.Path(), cerr)
	}
	return err
}

func (m *idem) release(c echo.Context, h *holder, reason string) {
	ctx := context.WithoutCancel(c.Request().Context())
	err := h.end(nil)
	level := slog.LevelDebug
	msg := "idempotency: claim released, response not stored"
	if err != nil && !errors.Is(err, ErrLeaseLost) {
		level = slog.LevelError
		msg = "idempotency: releasing claim failed; the key stays in progress until the lease expires"
	} else if reason == "the response was streamed" || reason == "the response is larger than MaxResponseSize" {
		level = slog.LevelWarn
	}
	if !m.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", errorsx.RequestID(c.Response().Header(), c.Request())),
		slog.String("route", c.Path()),
		slog.String("reason", reason),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	m.log.LogAttrs(ctx, level, msg, attrs...)
}
