package idempotency

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/internal/bodyread"
	"github.com/clipia/apiguard/internal/instrument"
	"github.com/clipia/apiguard/internal/reqctx"
	"github.com/clipia/apiguard/principal"
	"github.com/clipia/apiguard/telemetry"
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
	// Skip skips the guard for a request when it returns true: the
	// request passes untouched. Nil guards every request.
	Skip func(r *http.Request) bool

	// Store keeps the records. Nil means a new [MemoryStore] with default
	// settings, private to this guard (its sweeper stops when the guard is
	// garbage collected). Share one store between the guards of several
	// routes or processes by setting it here. A store that implements
	// [TxStore] also keeps the handler's own writes in the transaction of
	// the record: see [Guard.Serve].
	Store Store

	// Methods are the HTTP methods guarded. Nil or empty means POST,
	// PATCH, PUT and DELETE. Requests with other methods pass untouched.
	Methods []string

	// Required makes the key mandatory on the guarded methods: a request
	// without it answers 400 invalid_request with param "Idempotency-Key".
	// Install a separate guard on the routes that require it.
	Required bool

	// Scope returns the namespace of a request's keys; two scopes never
	// share a record. An error is handed to the front door as is (it
	// renders it). Nil means [DefaultScope] with ClientIP (the principal's
	// tenant, else its key id, else the client IP).
	Scope func(r *http.Request) (string, error)

	// ClientIP returns the client's IP address, for [DefaultScope] when
	// the request carries no principal. Nil means the address of the
	// direct peer (r.RemoteAddr), never X-Forwarded-For, which a client
	// could forge to reach another client's records. Behind a trusted
	// proxy, pass what knows it: with Echo, e.IPExtractor.
	ClientIP func(r *http.Request) string

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
	// released (and logged), so a retry runs again. With a [TxStore] a
	// longer response cannot be held back until the commit: the
	// transaction is rolled back and the client gets 500 internal_error.
	// Zero means 1 MiB.
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

	// Pending, when set, counts this guard's background work (claims kept
	// alive, commits retried after a store failure), so that
	// [Pending.Wait] can wait for it at shutdown or in tests. Nil means
	// the work is not counted; it ends by itself all the same.
	Pending *Pending

	// Telemetry selects the OpenTelemetry providers. Each request with a
	// valid Idempotency-Key on a guarded method is counted once in
	// apiguard.idempotency.requests under its outcome (executed, replayed,
	// in_progress, key_reuse, released, lease_lost or store_error; see
	// docs/observability.md), which is also set on the request's span when
	// it is recording; every store call is timed in apiguard.store.duration
	// (apiguard.store is what the store's Name method returns: "memory",
	// "redis", "postgres", else "custom") and, under a recording span,
	// becomes a child span. The zero value uses the global providers,
	// no-ops until the application installs an SDK.
	Telemetry telemetry.Config
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

// Guard is the framework-neutral idempotency guard that the front doors
// mount with their Use (echo4.Use, echo5.Use, gin1.Use, nethttp.Use): a
// guard.Guard. Build it once with [New]; the door calls
// [Guard.Serve] per request. A Guard is safe for concurrent use.
type Guard struct {
	skip       func(*http.Request) bool
	store      Store
	tx         TxStore // store, when it is one
	methods    map[string]bool
	required   bool
	scope      func(*http.Request) (string, error)
	clientIP   func(*http.Request) string
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
	ren        renewer
	mem        *MemoryStore // store, when it is one: it never blocks, and the guard's calls skip its copies
	obs        observer
	ops        storeOps
}

// New returns the idempotency guard of cfg; see [Guard.Serve] for what it
// does. New returns an error for a negative duration or size, an empty
// method, or a forbidden or empty stored header.
func New(cfg Config) (*Guard, error) {
	g := &Guard{
		skip:       cfg.Skip,
		store:      cfg.Store,
		required:   cfg.Required,
		scope:      cfg.Scope,
		clientIP:   cfg.ClientIP,
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
	if g.retention == 0 {
		g.retention = DefaultRetention
	}
	if g.lease == 0 {
		g.lease = DefaultLease
	}
	if g.retryAfter == 0 {
		g.retryAfter = DefaultRetryAfter
	}
	if g.maxReq == 0 {
		g.maxReq = DefaultMaxRequestBody
	}
	if g.maxResp == 0 {
		g.maxResp = DefaultMaxResponseSize
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.pending == nil {
		g.pending = new(Pending)
	}
	methods := cfg.Methods
	if len(methods) == 0 {
		methods = []string{http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete}
	}
	g.methods = make(map[string]bool, len(methods))
	for _, meth := range methods {
		meth = strings.ToUpper(strings.TrimSpace(meth))
		if meth == "" {
			return nil, errors.New("idempotency: empty method in Methods")
		}
		g.methods[meth] = true
	}
	stored := cfg.StoredHeaders
	if stored == nil {
		stored = []string{"Content-Type", "Location", "ETag", errorsx.HeaderShouldRetry}
	}
	g.allowSet = make(map[string]bool, len(stored))
	for _, h := range stored {
		k := http.CanonicalHeaderKey(strings.TrimSpace(h))
		if k == "" {
			return nil, errors.New("idempotency: empty header name in StoredHeaders")
		}
		if forbiddenHeader(k) {
			return nil, fmt.Errorf("idempotency: header %s must never be stored", k)
		}
		if !g.allowSet[k] {
			g.allowSet[k] = true
			g.allow = append(g.allow, k)
		}
	}
	if g.store == nil {
		g.store = NewMemoryStore(MemoryConfig{})
	}
	g.tx, _ = g.store.(TxStore)
	g.mem, _ = g.store.(*MemoryStore)
	in := instrument.New(cfg.Telemetry)
	g.obs = newObserver(in)
	g.ops = newStoreOps(in, instrument.StoreName(g.store))
	return g, nil
}

// DefaultScope is the scope used when Config.Scope is nil, called with
// Config.ClientIP: "tenant:" and the tenant of the principal that the auth
// guard put into the request's context (principal.FromContext), else
// "key:" and its key id; without a principal, "ip:" and clientIP(r), or,
// when clientIP is nil, the address of the direct peer (never
// X-Forwarded-For, which a client could forge to reach another client's
// records). A custom Config.Scope may fall back on it. It never returns an
// error.
func DefaultScope(r *http.Request, clientIP func(*http.Request) string) (string, error) {
	kind, id := defaultScope(r, clientIP)
	return kind + id, nil
}

// defaultScope is DefaultScope in two parts, kind ("tenant:", "key:",
// "ip:") and id.
func defaultScope(r *http.Request, clientIP func(*http.Request) string) (kind, id string) {
	if p, ok := principal.FromContext(r.Context()); ok {
		if p.Tenant != "" {
			return "tenant:", p.Tenant
		}
		if p.KeyID != "" {
			return "key:", p.KeyID
		}
	}
	if clientIP != nil {
		return "ip:", clientIP(r)
	}
	return "ip:", directIP(r)
}

// directIP is the address of the direct peer, as Echo's ExtractIPDirect
// reads it.
func directIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		if net.ParseIP(r.RemoteAddr) != nil {
			return r.RemoteAddr
		}
		return ""
	}
	return host
}

// RecordKey returns the store key of a request: scope, method, route (the
// route pattern the front door gives [Guard.Serve]) and the client's key,
// joined by "|" with "%" and "|" percent-escaped in each part, so different
// parts never make the same key.
func RecordKey(scope, method, route, key string) string {
	rk, _ := recordKey("", scope, method, route, key, nil)
	return rk
}

// recordKey is RecordKey of the scope kind + id (kind needs no escape),
// and the fingerprint fp as a string: both in one allocation (which the
// memory store keeps as one object).
func recordKey(kind, id, method, route, key string, fp []byte) (rk, fps string) {
	var b strings.Builder
	b.Grow(len(kind) + len(id) + len(method) + len(route) + len(key) + 3 + len(fp))
	b.WriteString(kind)
	escapeTo(&b, id)
	b.WriteByte('|')
	escapeTo(&b, method)
	b.WriteByte('|')
	escapeTo(&b, route)
	b.WriteByte('|')
	escapeTo(&b, key)
	b.Write(fp)
	s := b.String()
	return s[:len(s)-len(fp)], s[len(s)-len(fp):]
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

// Serve is the idempotency guard (a [guard.Guard]) for one request: w and
// r are the response writer and request as the door has them, c.Route() is
// the canonical route (part of the record key, so a key is one across
// doors), c.Next runs the rest of the chain with the guard's writer and
// request, and c.Render renders an error the handler returns at once, so
// the response is stored as the client saw it.
//
// Serve returns nil, an error to render (a bad key, a conflict, a store
// failure: nothing was written), or an error already rendered, marked with
// errorsx.Rendered, which no door renders again.
//
// A request with a method that is not guarded, without an Idempotency-Key
// (unless Required), or skipped by Config.Skip goes to next as is. On a
// guarded method with an Idempotency-Key (see [ParseKey]; a bad key answers
// 400 invalid_request, param "Idempotency-Key"), Serve computes the
// request's [Fingerprint] and claims the record of scope + method + route +
// key in the store, in one atomic step:
//
//   - new key: the handler runs; its response, as the client saw it (an
//     error the handler returns is rendered first, with render), is
//     committed with status, body and the StoredHeaders. 5xx, 429 and other
//     retryable outcomes, panics (re-panicked after the release), cancelled
//     requests, responses that were flushed, hijacked or larger than
//     MaxResponseSize are not stored: the claim is released so a retry runs
//     again;
//   - same key, other fingerprint: 409 idempotency_key_reuse, checked before
//     the in-progress state;
//   - same key, still running: 409 request_in_progress with Retry-After;
//   - same key, completed: the stored status, body and headers are written
//     with Idempotent-Replayed: true (no body for HEAD), and the handler
//     does not run.
//
// While the handler runs, its claim is renewed every Lease/3; if the claim
// is lost anyway (the store unreachable until the lease ended, or the key
// taken over), the handler's context is cancelled with cause [ErrLeaseLost]
// and its response is not stored. A store that cannot be reached for the
// claim answers 503 service_unavailable and the handler does not run. A
// commit that fails is retried in the background while the claim is held
// (the client waits for the first attempt, at most half a second;
// duplicates meanwhile get 409 request_in_progress); a response that still
// could not be stored is logged at Error.
//
// # With a TxStore
//
// When Config.Store is a [TxStore], Serve calls [TxStore.Begin] after the
// claim (a failure answers 503 service_unavailable; the handler does not
// run) and runs the handler with the context it returns. The response is
// held back: the client sees nothing until [Tx.Commit] stored it together
// with the handler's writes. If the commit fails ([ErrLeaseLost] or any
// other error), the transaction is rolled back, the claim released, and the
// client gets 503 service_unavailable instead, so it never sees a success
// whose writes were rolled back; its retry runs again. A response that is
// not stored (5xx, 429, X-Should-Retry: true, a cancelled request) is
// rolled back, the claim released, and the held-back response written as
// it is; a panic is rolled back and released before it goes on. Because the
// response is held back whole, a Flush does nothing (the response is
// stored like any other), a Hijack fails with http.ErrNotSupported, and a
// response larger than MaxResponseSize, or a handler that wrote nothing,
// is rolled back and answered 500 internal_error (logged at Error). There
// is no background commit retry: the commit is the transaction.
func (g *Guard) Serve(w http.ResponseWriter, r *http.Request, c guard.Call) error {
	return g.serve(w, r, c.Route(), c.Next, c.Render)
}

// serve is Serve with the route, next and render of the Call.
func (g *Guard) serve(w http.ResponseWriter, r *http.Request, route string,
	next func(w http.ResponseWriter, r *http.Request) error,
	render func(w http.ResponseWriter, r *http.Request, err error)) error {
	if (g.skip != nil && g.skip(r)) || !g.methods[r.Method] {
		return next(w, r)
	}
	vals := r.Header.Values(HeaderIdempotencyKey)
	switch len(vals) {
	case 0:
		if g.required {
			return badKey(errKeyMissing.Error())
		}
		return next(w, r)
	case 1:
	default:
		return badKey(errKeyMultiple.Error())
	}
	key, err := ParseKey(vals[0])
	if err != nil {
		return badKey(err.Error())
	}
	body, err := g.readBody(w, r)
	if err != nil {
		return err
	}
	var kind, scope string
	if g.scope != nil {
		if scope, err = g.scope(r); err != nil {
			return err
		}
	} else {
		kind, scope = defaultScope(r, g.clientIP)
	}
	// The fingerprint takes the path as sent, not the route pattern:
	// path parameters are request parameters, so the same key on
	// /x/1 and then /x/2 is a changed request (409), never a replay.
	fpa := fingerprint(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Content-Type"), body)
	rk, fp := recordKey(kind, scope, r.Method, route, key, fpa[:])

	ctx := r.Context()
	if pfp, ok := g.local.lookup(rk); ok {
		// This process still stores the first response (see holder.commit).
		if pfp != fp {
			g.obs.count(ctx, outcomeKeyReuse)
			return errorsx.IdempotencyKeyReuse()
		}
		g.obs.count(ctx, outcomeInProgress)
		return errorsx.RequestInProgress().WithRetryAfter(g.retryAfter)
	}
	claimedAt := time.Now()
	sctx, sc := g.ops.claim.Begin(ctx)
	mc, err := g.claim(sctx, rk, fp)
	sc.End(err)
	if err != nil {
		g.obs.count(ctx, outcomeStoreError)
		return storeFailed("claim", err)
	}
	res, stored := mc.res, &mc.stored
	if !res.Claimed {
		rec := res.Record
		switch {
		case rec.Fingerprint != fp:
			g.obs.count(ctx, outcomeKeyReuse)
			return errorsx.IdempotencyKeyReuse()
		case rec.State == StateCompleted && mc.hasStored:
			g.obs.count(ctx, outcomeReplayed)
			return g.replayStored(w, r, stored)
		case rec.State == StateCompleted && rec.Response != nil:
			g.obs.count(ctx, outcomeReplayed)
			return g.replay(w, r, rec.Response)
		case rec.State == StateCompleted:
			g.obs.count(ctx, outcomeStoreError)
			return errorsx.ServiceUnavailable().WithCause(errors.New("idempotency: completed record without a response"))
		}
		g.obs.count(ctx, outcomeInProgress)
		return errorsx.RequestInProgress().WithRetryAfter(g.retryAfter)
	}
	// next and render stay out of call: they must not escape, so that a
	// front door's closures stay on its stack.
	c := call{w: w, r: r, route: route, key: rk, fp: fp, token: res.Token, slot: mc.slot, claimedAt: claimedAt}
	if g.tx != nil {
		return g.runTx(&c, next, render)
	}
	return g.run(&c, next, render)
}

// claim claims key in the store. The memory store also returns a
// completed record's response, flat, and the slot of a new claim.
func (g *Guard) claim(ctx context.Context, key, fp string) (memClaim, error) {
	if g.mem != nil {
		return g.mem.claim(ctx, key, fp, g.lease, true)
	}
	res, err := g.store.Claim(ctx, key, fp, g.lease)
	return memClaim{res: res}, err
}

// call is one guarded request that claimed its key.
type call struct {
	w         http.ResponseWriter
	r         *http.Request
	route     string
	key, fp   string
	token     string
	slot      uint32 // the memory store's slot of the claim (+1), or 0
	claimedAt time.Time
}

func (c *call) requestID() string { return errorsx.RequestID(c.w.Header(), c.r) }

// restoredBody is the request body read for the fingerprint, given back to
// the handler (one allocation).
type restoredBody struct {
	bytes.Reader
	io.Closer
}

func (g *Guard) readBody(w http.ResponseWriter, req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	// The one body reader: size limit, and a slow body cut off with 400
	// within the request's read deadline. A small body of known length is
	// read into the restored body itself (one allocation for both).
	var rb *restoredBody
	var dst []byte
	if req.ContentLength >= 0 && req.ContentLength < smallBody {
		sb := new(smallRestoredBody)
		rb, dst = &sb.restoredBody, sb.buf[:0]
	} else {
		rb = new(restoredBody)
	}
	b, rerr := bodyread.Read(dst, w, req, g.maxReq, 0)
	if rerr != nil {
		return nil, rerr
	}
	rb.Closer = req.Body
	rb.Reset(b)
	req.Body = rb
	return b, nil
}

// smallBody is the size below which a request body is read into its
// restored body.
const smallBody = 256

// smallRestoredBody is a restoredBody with room for a small body.
type smallRestoredBody struct {
	restoredBody
	buf [smallBody]byte
}

func (g *Guard) replay(w http.ResponseWriter, req *http.Request, r *Response) error {
	h := w.Header()
	for k, vs := range r.Header {
		if g.allowSet[k] {
			h[k] = append([]string(nil), vs...)
		}
	}
	return g.replayBody(w, req, r.Status, r.Body)
}

// replayStored is replay of a response the memory store keeps.
func (g *Guard) replayStored(w http.ResponseWriter, req *http.Request, r *storedResp) error {
	h := w.Header()
	r.hdr.walk(g.allowName, func(k string, vs []string) {
		if k != "" {
			h[k] = vs
		}
	})
	return g.replayBody(w, req, r.status, r.body)
}

// allowName returns the stored header name k as its StoredHeaders
// spelling, or "" when it is not one.
func (g *Guard) allowName(k []byte) string {
	for _, a := range g.allow {
		if a == string(k) {
			return a
		}
	}
	return ""
}

// replayBody ends a replay: the headers of the outcome, the status and
// the body.
func (g *Guard) replayBody(w http.ResponseWriter, req *http.Request, status int, body []byte) error {
	h := w.Header()
	if status >= 400 && h.Get(errorsx.HeaderShouldRetry) == "" {
		// Only outcomes that must not be retried are stored.
		h.Set(errorsx.HeaderShouldRetry, "false")
	}
	h.Set(HeaderIdempotentReplayed, "true")
	if status != http.StatusNoContent && status != http.StatusNotModified {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(status)
	if req.Method != http.MethodHead && len(body) > 0 {
		if _, err := w.Write(body); err != nil {
			g.log.LogAttrs(req.Context(), slog.LevelDebug, "idempotency: writing replay",
				slog.String("request_id", errorsx.RequestID(w.Header(), req)), slog.String("error", err.Error()))
		}
	}
	return nil
}

// flight is the state of one request that runs its handler: the holder of
// its claim and the writer that captures its response, in one allocation.
type flight struct {
	h    holder
	cw   captureWriter
	out  capture
	ctx  leaseCtx      // the handler's context
	vals reqctx.Values // over ctx: where the guards after this one store values
	req  http.Request  // the handler's request: the request with vals
	buf  *captureBuf   // where cw captures, from captureBufs (memory store only)
}

// captureBuf is a capture buffer in captureBufs.
type captureBuf struct{ b []byte }

// captureBufs are the buffers of the captured responses, for a guard whose
// store copies them (MemoryStore): a buffer goes back once its response is
// stored or released.
var captureBufs = sync.Pool{New: func() any { return &captureBuf{b: make([]byte, 0, 512)} }}

// putBuf gives the capture buffer of f back, unless it grew too large to
// keep.
func (f *flight) putBuf() {
	if f.buf != nil && cap(f.cw.buf) <= maxPooled {
		f.buf.b, f.cw.buf = f.cw.buf[:0], nil
		captureBufs.Put(f.buf)
	}
	f.buf = nil
}

// run runs the handler as the owner of the claim of c, while a holder keeps
// the claim alive; then commits or releases. The handler's context is
// cancelled with cause ErrLeaseLost when the claim is lost.
func (g *Guard) run(c *call, next func(http.ResponseWriter, *http.Request) error, render func(http.ResponseWriter, *http.Request, error)) error {
	req := c.r
	f := &flight{cw: captureWriter{ResponseWriter: c.w, allow: g.allow, limit: g.maxResp}}
	if g.mem != nil {
		f.buf = captureBufs.Get().(*captureBuf)
		f.cw.buf = f.buf.b[:0]
	}
	f.ctx.parent = req.Context()
	h := &f.h
	g.hold(h, req.Context(), nil, &f.ctx, c.slot, c.key, c.fp, c.token, c.claimedAt, c.requestID(), c.route)
	f.vals.Init(&f.ctx)
	f.req = *req.WithContext(&f.vals) // the copy in f: no allocation of its own
	hreq := &f.req
	cw := &f.cw
	finished := false
	defer func() {
		if !finished { // the handler panicked: release, and let the panic go on
			g.release(c, h, "panic")
		}
		f.ctx.cancelCause(context.Canceled)
	}()
	// Render now, so the response is captured as the client sees it;
	// errorsx.Rendered marks the error, so the front door's own call of
	// the renderer with the returned error writes and logs nothing a
	// second time.
	err := next(cw, hreq)
	if err != nil && !errorsx.IsRendered(err) {
		render(cw, hreq, err)
		err = errorsx.Rendered(err)
	}
	finished = true

	if reason := g.notStored(req, cw.status, cw.streamed, cw.over, cw.shouldRetry); reason != "" {
		g.release(c, h, reason)
		f.putBuf()
		return err
	}
	resp := &f.out
	hdr, body := cw.captured()
	*resp = capture{status: cw.status, hdr: hdr, body: body}
	if resp.body == nil {
		resp.body = []byte{}
	}
	cerr := h.end(resp)
	if cerr != nil && cerr != errLostRecorded { // the claim was lost while the handler ran
		g.recordLost(context.WithoutCancel(req.Context()), c.requestID(), c.route, cerr)
	}
	if resp.done {
		*resp = capture{}
		f.putBuf()
	}
	return err
}

// Reasons a response is not stored.
const (
	reasonNoResponse = "no response was written"
	reasonStreamed   = "the response was streamed"
	reasonTooLarge   = "the response is larger than MaxResponseSize"
)

// notStored returns why a response is not stored, or "" when it is.
func (g *Guard) notStored(req *http.Request, status int, streamed, over, shouldRetry bool) string {
	switch {
	case status == 0:
		return reasonNoResponse
	case streamed:
		return reasonStreamed
	case over:
		return reasonTooLarge
	case req.Context().Err() != nil:
		return "the request was cancelled"
	case status >= 500 || status == http.StatusTooManyRequests:
		return "status " + strconv.Itoa(status) + " is retryable"
	case status >= 400 && shouldRetry:
		return "the response says X-Should-Retry: true"
	}
	return ""
}

func (g *Guard) release(c *call, h *holder, reason string) {
	g.obs.count(c.r.Context(), outcomeReleased)
	ctx := context.WithoutCancel(c.r.Context())
	err := h.end(nil)
	level := slog.LevelDebug
	msg := "idempotency: claim released, response not stored"
	if err != nil && !errors.Is(err, ErrLeaseLost) {
		level = slog.LevelError
		msg = "idempotency: releasing claim failed; the key stays in progress until the lease expires"
	} else if reason == reasonStreamed || reason == reasonTooLarge {
		level = slog.LevelWarn
	}
	if !g.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", c.requestID()),
		slog.String("route", c.route),
		slog.String("reason", reason),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	g.log.LogAttrs(ctx, level, msg, attrs...)
}
