package errorsx

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
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

// HandlerConfig configures the renderer built by [NewHandler]. The zero value
// is valid: it logs to slog.Default and always renders the JSON envelope.
//
// The renderer owns the settings of what an error response looks like (its
// body, the realm of the 401 challenge). Headers that every response carries
// are owned by the middleware that sets them: X-Request-Id and Request-Id by
// middleware.RequestID (the renderer keeps them, and assigns an X-Request-Id
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
	// whoever raised it (middleware.Auth, a scope check without a
	// principal, a handler). Default "api".
	Realm string
}

// ErrCredentialRejected marks the cause of a 401 whose request presented a
// credential that was refused (unknown, revoked, malformed): the renderer
// then adds error="invalid_token" to the WWW-Authenticate challenge
// (RFC 6750 §3.1). middleware.Auth marks its 401s this way; a handler can
// too, with errors.Join or fmt.Errorf("%w") in the cause. A 401 whose request
// carried an Authorization header is marked the same way without it.
var ErrCredentialRejected = errors.New("errorsx: credential rejected")

// Render renders err to the client now, through the app's
// HTTPErrorHandler (the renderer), and returns an error that tells the
// renderer it has been rendered and logged: a middleware that needs the
// response as the client saw it (the idempotency middleware stores it)
// calls it and returns what it returns, so Echo's second call of the
// renderer writes and logs nothing. The returned error wraps err, so
// errors.As and errors.Is see through it and [From] maps it as err. Render
// of nil is nil.
//
//	err := next(c)
//	if err != nil {
//		err = errorsx.Render(c, err) // the response now holds the error
//	}
//	inspect(c.Response())
//	return err
func Render(c echo.Context, err error) error {
	if err == nil {
		return nil
	}
	if isRendered(err) {
		return err
	}
	c.Error(err)
	return &renderedError{err: err}
}

// renderedError marks an error [Render] has rendered.
type renderedError struct{ err error }

func (r *renderedError) Error() string { return r.err.Error() }
func (r *renderedError) Unwrap() error { return r.err }

// isRendered reports whether err, or an error it wraps, was rendered by
// [Render].
func isRendered(err error) (rendered bool) {
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

// renderedBefore reports whether the committed response of c is the
// renderer's own rendering of err: a middleware called c.Error(err) and
// then returned err, so Echo calls the renderer again. The committed status
// is err's row and the response has the renderer's headers. It is the
// safety net behind [Render], for middlewares that do not use it.
func (r *renderer) renderedBefore(c echo.Context, err error) bool {
	res := c.Response()
	h := res.Header()
	if first(h[keyShouldRetry]) == "" {
		return false
	}
	ct := first(h[keyContentType])
	if ct != ContentTypeJSON && ct != ContentTypeProblem {
		return false
	}
	return From(err).Status() == res.Status
}

// NewHandler returns the renderer: an echo.HTTPErrorHandler that turns every
// error, from middlewares, handlers, Echo itself and recovered panics, into
// one row of the catalogue (see [From]) and writes it as the JSON envelope
//
//	{"error":{"type":"…","code":"…","message":"…","param":"…"}}
//
// with the headers of the contract: X-Request-Id, X-Should-Retry, Retry-After on 429 (the error's wait, else one a
// middleware already set, else 1) and on the other retryable rows when the
// error carries a wait, and WWW-Authenticate on 401. A HEAD request gets the
// status and headers only.
//
// Render once, log once. The renderer writes at most one error response per
// request and logs each failed request exactly once: level Error for 5xx,
// Debug for 4xx. A middleware that needs the response as the client saw it
// (the idempotency middleware stores it) renders the error with [Render]
// and returns what Render returns; the renderer then neither writes nor
// logs it again when Echo hands it over. A middleware that calls c.Error(err)
// and returns err by hand gets the same, as long as the committed response
// is the renderer's own rendering of err. A different error arriving after a
// response was committed (a handler that streamed, then failed) cannot reach
// the client any more: it is logged once, at Error.
//
// Install it with e.HTTPErrorHandler = errorsx.NewHandler(cfg). The returned
// function is safe for concurrent use.
func NewHandler(cfg HandlerConfig) echo.HTTPErrorHandler {
	r := &renderer{cfg: cfg}
	if r.cfg.ProblemTypeBase == "" {
		r.cfg.ProblemTypeBase = "urn:apiguard:error:"
	}
	if r.cfg.Realm == "" {
		r.cfg.Realm = "api"
	}
	r.challenge = `Bearer realm=` + quoteHeader(r.cfg.Realm)
	r.challengeToken = r.challenge + `, error="invalid_token"`
	for i := range rows {
		r.problemTypes[i] = r.cfg.ProblemTypeBase + string(rows[i].Code)
	}
	return r.handle
}

type renderer struct {
	cfg            HandlerConfig
	challenge      string
	challengeToken string
	problemTypes   [len(rows)]string // problem "type" URI per row
}

// problemType returns the problem "type" URI of row.
func (r *renderer) problemType(row *Row) string {
	for i := range rows {
		if row == &rows[i] {
			return r.problemTypes[i]
		}
	}
	return r.cfg.ProblemTypeBase + string(row.Code)
}

func (r *renderer) logger() *slog.Logger {
	if r.cfg.Logger != nil {
		return r.cfg.Logger
	}
	return slog.Default()
}

func (r *renderer) handle(err error, c echo.Context) {
	if err == nil {
		return
	}
	res := c.Response()
	req := c.Request()
	if isRendered(err) {
		// Rendered and logged already, by [Render].
		return
	}
	if res.Committed {
		if r.renderedBefore(c, err) {
			// A middleware rendered it with c.Error and returned it.
			return
		}
		// Too late to tell the client; the log still gets the error, once.
		r.logCommitted(c, req, res.Status, err)
		return
	}
	e := From(err)
	id := RequestID(c)
	r.log(c, req, id, e, err)

	h := res.Header()
	// Every value set below shares one backing array: one allocation
	// instead of one per header. Each value is capped to length 1, so a
	// later Add on the response reallocates instead of overwriting its
	// neighbour (as http.Header.Clone does).
	hs := headerSetter{h: h, vals: make([]string, 0, 5)}
	if e.row.Retryable {
		hs.set(keyShouldRetry, "true")
		switch {
		case e.retryAfter > 0:
			hs.set(keyRetryAfter, strconv.FormatInt(RetryAfterSeconds(e.retryAfter), 10))
		case e.row.Code == CodeRateLimitExceeded && !validRetryAfter(first(h[keyRetryAfter])):
			// A 429 always says when to retry: keep a wait a middleware
			// already put on the response, else the least one.
			hs.set(keyRetryAfter, "1")
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
		if !varyHas(h[keyVary], echo.HeaderAccept) {
			h[keyVary] = append(h[keyVary], echo.HeaderAccept)
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
	res.WriteHeader(e.row.Status)
	// HEAD gets the same status and headers as GET, Content-Length
	// included, and no body.
	if req.Method != http.MethodHead {
		if _, werr := res.Write(b); werr != nil {
			r.logger().LogAttrs(req.Context(), slog.LevelDebug, "writing error response",
				slog.String("request_id", id), slog.String("error", werr.Error()))
		}
	}
	if cap(b) <= 64<<10 {
		*bp = b
		bufPool.Put(bp)
	}
}

// Canonical header keys, for direct access to http.Header maps.
var (
	keyShouldRetry     = http.CanonicalHeaderKey(HeaderShouldRetry)
	keyRetryAfter      = http.CanonicalHeaderKey(HeaderRetryAfter)
	keyWWWAuthenticate = http.CanonicalHeaderKey(HeaderWWWAuthenticate)
	keyAuthorization   = http.CanonicalHeaderKey(echo.HeaderAuthorization)
	keyAccept          = http.CanonicalHeaderKey(echo.HeaderAccept)
	keyContentType     = http.CanonicalHeaderKey(echo.HeaderContentType)
	keyContentLength   = http.CanonicalHeaderKey(echo.HeaderContentLength)
	keyContentEncoding = http.CanonicalHeaderKey(echo.HeaderContentEncoding)
	keyVary            = http.CanonicalHeaderKey(echo.HeaderVary)
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

func (r *renderer) logCommitted(c echo.Context, req *http.Request, status int, err error) {
	l := r.logger()
	ctx := req.Context()
	if !l.Enabled(ctx, slog.LevelError) {
		return
	}
	l.LogAttrs(ctx, slog.LevelError, "error after response was committed",
		slog.String("request_id", c.Response().Header().Get(HeaderRequestID)),
		slog.String("method", req.Method),
		slog.String("route", c.Path()),
		slog.Int("status", status),
		slog.String("error", errString(err)),
	)
}

func (r *renderer) log(c echo.Context, req *http.Request, id string, e *Error, err error) {
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
		slog.String("route", c.Path()),
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
// cause middleware.Recover gives a recovered panic.
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
	if e.param != "" {
		b = append(b, `,"param":`...)
		b = appendString(b, e.param)
	}
	return append(b, '}')
}
