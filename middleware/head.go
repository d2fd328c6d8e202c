package middleware

import (
	"net/http"

	"github.com/clipia/apiguard/internal/echoroute"
	"github.com/clipia/apiguard/internal/frontdoor"
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
			hw := frontdoor.NewHeadWriter(res.Writer)
			res.Writer = hw
			defer func() {
				req.Method = http.MethodHead
				if c.Request() != req {
					c.Request().Method = http.MethodHead
				}
				res.Writer = hw.ResponseWriter
				hw.Finish()
			}()
			return next(c)
		}
	}, nil
}
