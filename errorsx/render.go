package errorsx

import (
	"log/slog"
	"net/http"
	"strconv"
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
	// The envelope stays the default either way.
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
// enabled), X-Should-Retry, Retry-After on 429 and wherever the error carries
// a wait, and WWW-Authenticate on 401. A HEAD request gets the status and
// headers only. A response that is already committed is never rewritten.
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
	r.challenge = `Bearer realm="` + r.cfg.Realm + `"`
	r.challengeToken = r.challenge + `, error="invalid_token"`
	return r.handle
}

type renderer struct {
	cfg            HandlerConfig
	challenge      string
	challengeToken string
}

func (r *renderer) logger() *slog.Logger {
	if r.cfg.Logger != nil {
		return r.cfg.Logger
	}
	return slog.Default()
}

func (r *renderer) handle(err error, c echo.Context) {
	res := c.Response()
	if res.Committed || err == nil {
		return
	}
	e := From(err)
	req := c.Request()
	id := RequestID(c)
	r.log(c, req, id, e, err)

	h := res.Header()
	if r.cfg.SendRequestID {
		h.Set(HeaderRequestIDStripe, id)
	}
	if e.row.Retryable {
		h.Set(HeaderShouldRetry, "true")
	} else {
		h.Set(HeaderShouldRetry, "false")
	}
	if e.retryAfter > 0 || e.row.Code == CodeRateLimitExceeded {
		h.Set(HeaderRetryAfter, strconv.FormatInt(RetryAfterSeconds(e.retryAfter), 10))
	}
	if e.row.Status == http.StatusUnauthorized && h.Get(HeaderWWWAuthenticate) == "" {
		if req.Header.Get(echo.HeaderAuthorization) != "" || req.Header.Get("X-API-Key") != "" {
			h.Set(HeaderWWWAuthenticate, r.challengeToken)
		} else {
			h.Set(HeaderWWWAuthenticate, r.challenge)
		}
	}
	h.Del(echo.HeaderContentLength)
	h.Del(echo.HeaderContentEncoding)

	problem := r.cfg.ProblemJSON && prefersProblem(req.Header.Get(echo.HeaderAccept))
	if problem {
		h.Set(echo.HeaderContentType, ContentTypeProblem)
	} else {
		h.Set(echo.HeaderContentType, ContentTypeJSON)
	}
	if req.Method == http.MethodHead {
		res.WriteHeader(e.row.Status)
		return
	}
	bp := bufPool.Get().(*[]byte)
	var b []byte
	if problem {
		b = appendProblem((*bp)[:0], e, r.cfg.ProblemTypeBase)
	} else {
		b = AppendEnvelope((*bp)[:0], e)
	}
	h.Set(echo.HeaderContentLength, strconv.Itoa(len(b)))
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
	l.LogAttrs(ctx, level, "request failed",
		slog.String("request_id", id),
		slog.String("method", req.Method),
		slog.String("route", c.Path()),
		slog.Int("status", e.row.Status),
		slog.String("code", string(e.row.Code)),
		slog.String("error", err.Error()),
	)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// AppendEnvelope appends the JSON envelope of e to b and returns the
// extended buffer. It is what the renderer writes; it is exported for tests
// and for code that must produce the same bytes outside Echo.
func AppendEnvelope(b []byte, e *Error) []byte {
	b = append(b, `{"error":{"type":`...)
	b = appendString(b, e.row.Type)
	b = append(b, `,"code":`...)
	b = appendString(b, string(e.row.Code))
	b = append(b, `,"message":`...)
	b = appendString(b, e.Message())
	if e.param != "" {
		b = append(b, `,"param":`...)
		b = appendString(b, e.param)
	}
	return append(b, "}}"...)
}

func appendProblem(b []byte, e *Error, base string) []byte {
	b = append(b, `{"type":`...)
	b = appendString(b, base+string(e.row.Code))
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
