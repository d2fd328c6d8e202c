package middleware

import (
	"net/http"
	"strconv"

	"github.com/clipia/apiguard/internal/echoroute"
	"github.com/labstack/echo/v4"
)

// HeadConfig configures [Head]. The zero value is valid.
type HeadConfig struct {
	// Skipper skips the middleware when it returns true. Nil runs it always.
	Skipper func(c echo.Context) bool
}

// Head returns a middleware that answers HEAD wherever GET is served, as
// RFC 9110 §9.3.2 expects and Echo v4's router does not: a HEAD request for
// a path that has a GET route but no HEAD route of its own is routed to the
// GET route, runs every middleware and guard of it (auth, rate limit,
// scopes: a HEAD costs what a GET costs) and its handler, and gets the same
// status and headers, without a body. An error is rendered with the same
// status and headers, Content-Length included. A path with an explicit HEAD
// route keeps it.
//
// Install it with Echo's Pre, so it runs before routing:
//
//	e.Pre(middleware.Must(middleware.Head(middleware.HeadConfig{})))
//
// While the chain runs, the request's method is GET (Echo routes on it,
// and the handler sees it); it is HEAD again before the response is
// finished and before an error is rendered. The body the handler writes is
// counted and dropped: the response carries the Content-Length GET would
// have, unless the handler set its own or flushed. It never returns a
// configuration error today.
func Head(cfg HeadConfig) (echo.MiddlewareFunc, error) {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.Method != http.MethodHead || (cfg.Skipper != nil && cfg.Skipper(c)) {
				return next(c)
			}
			e := c.Echo()
			if e == nil {
				return next(c)
			}
			// Does the app route HEAD for this path itself?
			e.Router().Find(http.MethodHead, echo.GetPath(req), c)
			if echoroute.HasHEAD(e, c.Path()) {
				return next(c)
			}
			c.Set(echo.ContextKeyHeaderAllow, nil) // Find's 405 leftovers
			// Echo routes on the method of the request it was given, so it
			// changes in place, as Echo's own MethodOverride does.
			req.Method = http.MethodGet
			res := c.Response()
			hw := &headWriter{ResponseWriter: res.Writer}
			res.Writer = hw
			defer func() {
				req.Method = http.MethodHead
				if c.Request() != req {
					c.Request().Method = http.MethodHead
				}
				res.Writer = hw.ResponseWriter
				hw.finish()
			}()
			return next(c)
		}
	}, nil
}

// headWriter holds back the status of a HEAD answered by a GET handler,
// counts and drops the body, and sends the status with the Content-Length
// of the body when the handler is done.
type headWriter struct {
	http.ResponseWriter
	status int
	n      int64
	sent   bool
}

func (w *headWriter) WriteHeader(code int) {
	if w.status == 0 && !w.sent {
		w.status = code
	}
	if code < 200 && !w.sent { // 1xx go out at once
		w.status = 0
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *headWriter) Write(p []byte) (int, error) {
	if w.status == 0 && !w.sent {
		w.status = http.StatusOK
	}
	w.n += int64(len(p))
	return len(p), nil
}

// Flush sends the status now; a flushed HEAD has no Content-Length.
func (w *headWriter) Flush() {
	w.send()
	http.NewResponseController(w.ResponseWriter).Flush() //nolint:errcheck // as http.Flusher
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *headWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *headWriter) send() {
	if w.sent || w.status == 0 {
		return
	}
	w.sent = true
	w.ResponseWriter.WriteHeader(w.status)
}

// finish sends the held status with the Content-Length of the dropped body.
func (w *headWriter) finish() {
	if w.sent || w.status == 0 {
		return
	}
	h := w.Header()
	if w.n > 0 && h.Get("Content-Length") == "" && h.Get("Transfer-Encoding") == "" {
		h.Set("Content-Length", strconv.FormatInt(w.n, 10))
	}
	w.send()
}
