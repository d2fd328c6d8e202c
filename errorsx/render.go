package errorsx

import (
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
// is valid: it logs to slog.Default, sends only X-Request-Id, and always
// renders the JSON envelope.
type HandlerConfig struct {
	// Logger receives one record per rendered error: level Error for 5xx
	// (with the cause), Debug for 4xx. Nil means slog.Default().
	Logger *slog.Logger

	// SendRequestID also sends the request id as Request-Id, the header
	// stripe-go reads. X-Request-Id is always sent.
	SendRequestID bool

	// ProblemJSON enables RFC 9457 application/problem+json for clients
	// whose Accept header explicitly prefers it over application/json.
	// The envelope stays the default either way. When enabled, error
	// responses also carry Vary: Accept.
	ProblemJSON bool

	// ProblemTypeBase prefixes the code to form the problem "type" URI.
	// Default "urn:apiguard:error:", giving e.g.
	// "urn:apiguard:error:not_found".
	ProblemTypeBase string

	// Realm is the realm of the WWW-Authenticate challenge on 401.
	// Default "api".
	Realm string
}

// NewHandler returns the renderer: an echo.HTTPErrorHandler that turns every
// error, from middlewares, handlers, Echo itself and recovered panics, into
// one row of the catalogue (see [From]) and writes it as the JSON envelope
//
//	{"error":{"type":"…","code":"…","message":"…","param":"…"}}
//
// with the headers of the contract: X-Request-Id (and Request-Id when
// enabled), X-Should-Retry, Retry-After on 429 (the error's wait, else one a
// middleware already set, else 1) and on the other retryable rows when the
// error carries a wait, and WWW-Authenticate on 401. A HEAD request gets the
// status and headers only. A response that is already committed is never
// rewritten; its error is only logged.
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
	if res.Committed {
		// Too late to tell the client; the log still gets the error.
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
	hs := headerSetter{h: h, vals: make([]string, 0, 6)}
	if r.cfg.SendRequestID {
		hs.set(keyRequestIDStripe, id)
	}
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
		if first(req.Header[keyAuthorization]) != "" || first(req.Header[keyAPIKey]) != "" {
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
	if req.Method == http.MethodHead {
		res.WriteHeader(e.row.Status)
		return
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
	if _, werr := res.Write(b); werr != nil {
		r.logger().LogAttrs(req.Context(), slog.LevelDebug, "writing error response",
			slog.String("request_id", id), slog.String("error", werr.Error()))
	}
	if cap(b) <= 64<<10 {
		*bp = b
		bufPool.Put(bp)
	}
}

// Canonical header keys, for direct access to http.Header maps.
var (
	keyRequestIDStripe = http.CanonicalHeaderKey(HeaderRequestIDStripe)
	keyShouldRetry     = http.CanonicalHeaderKey(HeaderShouldRetry)
	keyRetryAfter      = http.CanonicalHeaderKey(HeaderRetryAfter)
	keyWWWAuthenticate = http.CanonicalHeaderKey(HeaderWWWAuthenticate)
	keyAuthorization   = http.CanonicalHeaderKey(echo.HeaderAuthorization)
	keyAPIKey          = http.CanonicalHeaderKey("X-API-Key")
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
	l.LogAttrs(ctx, level, "request failed",
		slog.String("request_id", id),
		slog.String("method", req.Method),
		slog.String("route", c.Path()),
		slog.Int("status", e.row.Status),
		slog.String("code", string(e.row.Code)),
		slog.String("error", errText),
	)
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
