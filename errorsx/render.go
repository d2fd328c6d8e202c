package errorsx

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/clipia/apiguard/internal/instrument"
	"github.com/clipia/apiguard/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Header names set by the renderer.
const (
	HeaderRequestID       = "X-Request-Id"
	HeaderRequestIDStripe = "Request-Id"
	HeaderShouldRetry     = "X-Should-Retry"
	HeaderRetryAfter      = "Retry-After"
	HeaderWWWAuthenticate = "WWW-Authenticate"
)

// Content types of the two renderings.
const (
	ContentTypeJSON    = "application/json; charset=utf-8"
	ContentTypeProblem = "application/problem+json"
)

// HandlerConfig configures the renderer built by [NewRenderer]. The zero value
// is valid: it logs to slog.Default and always renders the JSON envelope.
//
// The renderer owns the settings of what an error response looks like (its
// body, the realm of the 401 challenge). Headers that every response carries
// are owned by the middleware that sets them: X-Request-Id and Request-Id by
// guard.RequestID (the renderer keeps them, and assigns an X-Request-Id
// when no middleware did).
type HandlerConfig struct {
	// Logger receives exactly one record per failed request: level Error
	// for 5xx (with the cause, and the stack of a recovered panic), Debug
	// for 4xx (with the cause, e.g. why a key was rejected). Nil means
	// slog.Default().
	Logger *slog.Logger

	// ProblemJSON enables RFC 9457 application/problem+json for clients
	// whose Accept header explicitly prefers it over application/json.
	// The envelope stays the default either way. When enabled, error
	// responses also carry Vary: Accept.
	ProblemJSON bool

	// ProblemTypeBase prefixes the code to form the problem "type" URI.
	// Default "urn:apiguard:error:", giving e.g.
	// "urn:apiguard:error:not_found".
	ProblemTypeBase string

	// Realm is the realm of the WWW-Authenticate challenge on every 401,
	// whoever raised it (auth.Authenticator, a scope check without a
	// principal, a handler). Default "api".
	Realm string

	// Telemetry selects the OpenTelemetry providers. Every rendered error
	// is counted in apiguard.errors (attributes http.response.status_code
	// and apiguard.error.code), and the request's span, when it is
	// recording, gets apiguard.error.code and, on 5xx, the status Error
	// (described by the code only, never the cause). The zero value uses
	// the global providers, no-ops until the application installs an SDK;
	// see docs/observability.md.
	Telemetry telemetry.Config
}

// ErrCredentialRejected marks the cause of a 401 whose request presented a
// credential that was refused (unknown, revoked, malformed): the renderer
// then adds error="invalid_token" to the WWW-Authenticate challenge
// (RFC 6750 §3.1). auth.Authenticator marks its 401s this way; a handler can
// too, with errors.Join or fmt.Errorf("%w") in the cause. A 401 whose request
// carried an Authorization header is marked the same way without it.
var ErrCredentialRejected = errors.New("errorsx: credential rejected")

// Rendered returns err marked as rendered: its response has been written
// and logged by the [Renderer]. A front door's middleware that needs the
// response as the client saw it (the idempotency guard stores it) renders
// the error at once and returns Rendered(err); the front door's error
// handler then writes and logs nothing more for it ([IsRendered]). The
// returned error wraps err, so errors.As and errors.Is see through it and
// [From] maps it as err. Rendered of nil is nil.
func Rendered(err error) error {
	if err == nil || IsRendered(err) {
		return err
	}
	return &renderedError{err: err}
}

// renderedError marks an error [Rendered] returned.
type renderedError struct{ err error }

func (r *renderedError) Error() string { return r.err.Error() }
func (r *renderedError) Unwrap() error { return r.err }

// IsRendered reports whether err, or an error it wraps, was marked by
// [Rendered]. It never panics.
func IsRendered(err error) (rendered bool) {
	defer func() {
		if recover() != nil {
			rendered = false
		}
	}()
	return findRendered(err, 0)
}

// findRendered walks err's chain as errors.As does, without allocating.
func findRendered(err error, depth int) bool {
	for err != nil && depth < 100 {
		switch x := err.(type) {
		case *renderedError:
			return true
		case *Error:
			return false
		case interface{ Unwrap() error }:
			err = x.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range x.Unwrap() {
				if findRendered(e, depth+1) {
					return true
				}
			}
			return false
		default:
			return false
		}
		depth++
	}
	return false
}

// Renderer is the one renderer: it turns every error, from guards,
// handlers, a web framework itself and recovered panics, into one row of
// the catalogue (see [From]) and writes it to an http.ResponseWriter as the
// JSON envelope
//
//	{"error":{"type":"…","code":"…","message":"…","param":"…"}}
//
// with the headers of the contract: X-Request-Id, X-Should-Retry,
// Retry-After on 429 and 503 (the error's wait, else one a middleware
// already set, else 1) and on the other retryable rows when the error
// carries a wait,
// and WWW-Authenticate on 401. A HEAD request gets the status and headers,
// Content-Length included, and no body. It imports no web framework: each
// front door (echo4.ErrorHandler for Echo v4, and the others) hands it
// the error and the writer, so the same request gets the same bytes on
// every front door.
//
// Render once, log once. Each failed request is logged exactly once: level
// Error for 5xx, Debug for 4xx. [Rendered] marks an error rendered early
// (by a guard that needs the response as the client saw it), and
// [Renderer.Committed] handles an error that arrives after the response was
// committed. A Renderer is safe for concurrent use.
type Renderer struct{ r renderer }

// NewRenderer returns the renderer configured by cfg.
func NewRenderer(cfg HandlerConfig) *Renderer {
	r := &Renderer{r: renderer{cfg: cfg}}
	if r.r.cfg.ProblemTypeBase == "" {
		r.r.cfg.ProblemTypeBase = "urn:apiguard:error:"
	}
	if r.r.cfg.Realm == "" {
		r.r.cfg.Realm = "api"
	}
	in := instrument.New(cfg.Telemetry)
	r.r.errors = in.Errors
	for i := range rows {
		// Built once: counting an error allocates nothing.
		r.r.errOpts[i] = instrument.Add(
			telemetry.AttrStatusCode.Int(rows[i].Status),
			telemetry.AttrErrorCode.String(string(rows[i].Code)))
		r.r.spanAttr[i] = telemetry.AttrErrorCode.String(string(rows[i].Code))
	}
	r.r.challenge = `Bearer realm=` + quoteHeader(r.r.cfg.Realm)
	r.r.challengeToken = r.r.challenge + `, error="invalid_token"`
	for i := range rows {
		r.r.problemTypes[i] = r.r.cfg.ProblemTypeBase + string(rows[i].Code)
	}
	return r
}

// Write renders err as the response of req on w and logs it once. route is
// the matched route pattern, for the log ("" when none matched). The
// response must not be committed yet; see [Renderer.Committed]. A nil err
// writes nothing.
func (r *Renderer) Write(w http.ResponseWriter, req *http.Request, route string, err error) {
	if err == nil {
		return
	}
	r.r.write(w, req, route, err)
}

// Committed handles err arriving after the response on w was committed
// with status. When that response is the renderer's own rendering of err
// (a guard rendered it and then returned it without [Rendered]: the status
// is err's row and the response carries the renderer's headers), nothing
// more happens. Otherwise the error cannot reach the client any more (a
// handler streamed, then failed) and it is logged once, at Error.
func (r *Renderer) Committed(w http.ResponseWriter, req *http.Request, route string, status int, err error) {
	if err == nil || IsRendered(err) {
		return
	}
	h := w.Header()
	ct := first(h[keyContentType])
	if first(h[keyShouldRetry]) != "" && (ct == ContentTypeJSON || ct == ContentTypeProblem) &&
		From(err).Status() == status {
		return
	}
	r.r.logCommitted(h, req, route, status, err)
}

type renderer struct {
	cfg            HandlerConfig
	challenge      string
	challengeToken string
	problemTypes   [len(rows)]string // problem "type" URI per row

	errors   metric.Int64Counter
	errOpts  [len(rows)][]metric.AddOption // the attributes of each row's count
	spanAttr [len(rows)]attribute.KeyValue // apiguard.error.code of each row
}

// rowIndex returns the index of row in the catalogue, or -1 when row is
// not one of its rows.
func rowIndex(row *Row) int {
	for i := range rows {
		if row == &rows[i] {
			return i
		}
	}
	return -1
}

// problemType returns the problem "type" URI of row.
func (r *renderer) problemType(row *Row) string {
	if i := rowIndex(row); i >= 0 {
		return r.problemTypes[i]
	}
	return r.cfg.ProblemTypeBase + string(row.Code)
}

// observe counts the rendered error e in apiguard.errors and annotates the
// request's span when it is recording. Neither allocates without an SDK.
func (r *renderer) observe(req *http.Request, e *Error) {
	ctx := req.Context()
	i := rowIndex(e.row)
	if i < 0 {
		return // unreachable: every *Error holds a catalogue row
	}
	r.errors.Add(ctx, 1, r.errOpts[i]...)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(r.spanAttr[i])
		if e.row.Status >= 500 {
			// The code only: the cause may name infrastructure.
			span.SetStatus(codes.Error, string(e.row.Code))
		}
	}
}

func (r *renderer) logger() *slog.Logger {
	if r.cfg.Logger != nil {
		return r.cfg.Logger
	}
	return slog.Default()
}

func (r *renderer) write(w http.ResponseWriter, req *http.Request, route string, err error) {
	e := From(err)
	h := w.Header()
	id := RequestID(h, req)
	r.log(req, route, id, e, err)
	r.observe(req, e)

	// Every value set below shares one backing array: one allocation
	// instead of one per header. Each value is capped to length 1, so a
	// later Add on the response reallocates instead of overwriting its
	// neighbour (as http.Header.Clone does).
	hs := headerSetter{h: h, vals: make([]string, 0, 5)}
	if e.row.Retryable {
		hs.set(keyShouldRetry, "true")
		var secs int64
		switch {
		case e.retryAfter > 0:
			secs = RetryAfterSeconds(e.retryAfter)
		case alwaysWaits(e.row) && !validRetryAfter(first(h[keyRetryAfter])):
			// A 429 and a 503 always say when to retry: keep a wait a
			// middleware already put on the response, else the least one.
			secs = 1
		}
		if rl, ok := h[keyRateLimit]; ok {
			// Never earlier than a RateLimit t of the response (IETF
			// httpapi ratelimit-headers draft -10, section 6), e.g. a
			// concurrency 429 or a 503 on a rate-limited route.
			if secs == 0 && validRetryAfter(first(h[keyRetryAfter])) {
				secs, _ = strconv.ParseInt(first(h[keyRetryAfter]), 10, 64)
			}
			if t := maxReset(rl); secs > 0 && t > secs {
				secs = t
			}
		}
		if secs > 0 {
			hs.set(keyRetryAfter, strconv.FormatInt(secs, 10))
		}
	} else {
		hs.set(keyShouldRetry, "false")
	}
	if e.row.Status == http.StatusUnauthorized && first(h[keyWWWAuthenticate]) == "" {
		if first(req.Header[keyAuthorization]) != "" || safeIs(e.cause, ErrCredentialRejected) {
			hs.set(keyWWWAuthenticate, r.challengeToken)
		} else {
			hs.set(keyWWWAuthenticate, r.challenge)
		}
	}
	delete(h, keyContentLength)
	delete(h, keyContentEncoding)

	problem := false
	if r.cfg.ProblemJSON {
		problem = prefersProblem(first(req.Header[keyAccept]))
		// The body depends on Accept: tell caches, so that a cached
		// problem document never reaches a client that wants the envelope.
		if !varyHas(h[keyVary], "Accept") {
			h[keyVary] = append(h[keyVary], "Accept")
		}
	}
	if problem {
		hs.set(keyContentType, ContentTypeProblem)
	} else {
		hs.set(keyContentType, ContentTypeJSON)
	}
	bp := bufPool.Get().(*[]byte)
	var b []byte
	if problem {
		b = appendProblem((*bp)[:0], e, r.problemType(e.row))
	} else {
		b = AppendEnvelope((*bp)[:0], e)
	}
	hs.set(keyContentLength, strconv.Itoa(len(b)))
	w.WriteHeader(e.row.Status)
	// HEAD gets the same status and headers as GET, Content-Length
	// included, and no body.
	if req.Method != http.MethodHead {
		if _, werr := w.Write(b); werr != nil {
			r.logger().LogAttrs(req.Context(), slog.LevelDebug, "writing error response",
				slog.String("request_id", id), slog.String("error", werr.Error()))
		}
	}
	if cap(b) <= 64<<10 {
		*bp = b
		bufPool.Put(bp)
	}
}

// alwaysWaits reports whether every response of row carries Retry-After:
// 429 rate_limit_exceeded and 503 service_unavailable. The renderer is the
// one place that decides it: the error's wait when it carries one (a store's
// or a breaker's estimate), else a valid wait already on the response, else 1.
func alwaysWaits(row *Row) bool {
	return row.Code == CodeRateLimitExceeded || row.Code == CodeServiceUnavailable
}

// Canonical header keys, for direct access to http.Header maps.
var (
	keyShouldRetry     = http.CanonicalHeaderKey(HeaderShouldRetry)
	keyRetryAfter      = http.CanonicalHeaderKey(HeaderRetryAfter)
	keyRateLimit       = http.CanonicalHeaderKey("RateLimit")
	keyWWWAuthenticate = http.CanonicalHeaderKey(HeaderWWWAuthenticate)
	keyRequestID       = http.CanonicalHeaderKey(HeaderRequestID)
	keyAuthorization   = "Authorization"
	keyAccept          = "Accept"
	keyContentType     = "Content-Type"
	keyContentLength   = "Content-Length"
	keyContentEncoding = "Content-Encoding"
	keyVary            = "Vary"
)

// varyHas reports whether the Vary values already name field (or "*").
func varyHas(values []string, field string) bool {
	for _, v := range values {
		for f := range strings.SplitSeq(v, ",") {
			f = strings.TrimSpace(f)
			if f == "*" || strings.EqualFold(f, field) {
				return true
			}
		}
	}
	return false
}

// headerSetter sets single-valued headers whose values share one array.
type headerSetter struct {
	h    http.Header
	vals []string
}

// set replaces the values of the canonical key k with v.
func (s *headerSetter) set(k, v string) {
	s.vals = append(s.vals, v)
	n := len(s.vals)
	s.h[k] = s.vals[n-1 : n : n]
}

// first returns the first of vs, or "".
func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// panicError records, for the log, that mapping err panicked.
type panicError struct {
	value any
	err   error
}

func (p *panicError) Error() string {
	return "errorsx: mapping the error panicked: " + fmt.Sprint(p.value) + "; error: " + errString(p.err)
}

// errString is err.Error() for the log, safe against Error methods that
// panic (for instance on a typed nil receiver).
func errString(err error) (s string) {
	defer func() {
		if v := recover(); v != nil {
			s = fmt.Sprintf("%T (Error panicked: %v)", err, v)
		}
	}()
	return err.Error()
}

// maxReset returns the largest t parameter (the reset, whole seconds) of
// the RateLimit field lines vs, or 0. Policy names are sf-strings of
// letters, digits, '.', '_' and '-' (ratelimit.Policy), so ";t=" only
// starts a parameter.
func maxReset(vs []string) int64 {
	var m int64
	for _, v := range vs {
		for {
			i := strings.Index(v, ";t=")
			if i < 0 {
				break
			}
			v = v[i+3:]
			var n int64
			j := 0
			for ; j < len(v) && j < 15 && '0' <= v[j] && v[j] <= '9'; j++ {
				n = n*10 + int64(v[j]-'0')
			}
			m = max(m, n)
		}
	}
	return m
}

// validRetryAfter reports whether v is a Retry-After of whole seconds, at
// least 1.
func validRetryAfter(v string) bool {
	if v == "" || len(v) > 10 || v == "0" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return strings.TrimLeft(v, "0") != ""
}

// quoteHeader returns s as an HTTP quoted-string (RFC 9110 §5.6.4).
func quoteHeader(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			// Control characters cannot appear in a header value.
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func (r *renderer) logCommitted(h http.Header, req *http.Request, route string, status int, err error) {
	l := r.logger()
	ctx := req.Context()
	if !l.Enabled(ctx, slog.LevelError) {
		return
	}
	l.LogAttrs(ctx, slog.LevelError, "error after response was committed",
		slog.String("request_id", first(h[keyRequestID])),
		slog.String("method", req.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.String("error", errString(err)),
	)
}

func (r *renderer) log(req *http.Request, route, id string, e *Error, err error) {
	level := slog.LevelDebug
	if e.row.Status >= 500 {
		level = slog.LevelError
	}
	l := r.logger()
	ctx := req.Context()
	if !l.Enabled(ctx, level) {
		return
	}
	errText := errString(err)
	if p, ok := e.cause.(*panicError); ok {
		errText = p.Error()
	}
	attrs := [7]slog.Attr{
		slog.String("request_id", id),
		slog.String("method", req.Method),
		slog.String("route", route),
		slog.Int("status", e.row.Status),
		slog.String("code", string(e.row.Code)),
		slog.String("error", errText),
	}
	n := 6
	if e.row.Status >= 500 {
		if st := stackOf(err); st != "" {
			attrs[n] = slog.String("stack", st)
			n++
		}
	}
	l.LogAttrs(ctx, level, "request failed", attrs[:n]...)
}

// stackTracer is an error that carries a stack for the log, such as the
// cause guard.Recover gives a recovered panic.
type stackTracer interface {
	error
	Stack() string
}

// stackOf returns the stack an error in err's chain carries, or "". Like
// [From], it survives error methods that panic.
func stackOf(err error) (stack string) {
	defer func() {
		if recover() != nil {
			stack = ""
		}
	}()
	var st stackTracer
	if errors.As(err, &st) {
		return st.Stack()
	}
	return ""
}

// safeIs is errors.Is, false when a method in err's chain panics.
func safeIs(err, target error) (is bool) {
	defer func() {
		if recover() != nil {
			is = false
		}
	}()
	return errors.Is(err, target)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// AppendEnvelope appends the JSON envelope of e to b and returns the
// extended buffer. It is what the renderer writes; it is exported for tests
// and for code that must produce the same bytes outside Echo.
func AppendEnvelope(b []byte, e *Error) []byte {
	row := e.rowOf()
	b = append(b, `{"error":{"type":`...)
	b = appendString(b, row.Type)
	b = append(b, `,"code":`...)
	b = appendString(b, string(row.Code))
	b = append(b, `,"message":`...)
	b = appendString(b, e.Message())
	if p := e.Param(); p != "" {
		b = append(b, `,"param":`...)
		b = appendString(b, p)
	}
	return append(b, "}}"...)
}

// appendProblem appends the RFC 9457 problem document of e, with typeURI as
// its "type" member.
func appendProblem(b []byte, e *Error, typeURI string) []byte {
	b = append(b, `{"type":`...)
	b = appendString(b, typeURI)
	b = append(b, `,"title":`...)
	b = appendString(b, e.row.Title)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.row.Status), 10)
	b = append(b, `,"detail":`...)
	b = appendString(b, e.Message())
	b = append(b, `,"code":`...)
	b = appendString(b, string(e.row.Code))
	if p := e.Param(); p != "" {
		b = append(b, `,"param":`...)
		b = appendString(b, p)
	}
	return append(b, '}')
}
