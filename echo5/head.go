package echo5

import (
	"net/http"

	"github.com/clipia/apiguard/internal/frontdoor"
	"github.com/labstack/echo/v5"
)

// HeadConfig configures [Head]. The zero value is valid.
type HeadConfig struct {
	// Skip skips the middleware when it returns true. Nil runs it always.
	Skip func(r *http.Request) bool
}

// Head returns a middleware that answers HEAD wherever GET is served, as
// RFC 9110 §9.3.2 expects and Echo v5's router does not by default (its
// RouterConfig.AutoHandleHEAD is off): a HEAD request for a path that has a
// GET route but no HEAD route of its own is routed to the GET route, runs
// every middleware and guard of it (auth, rate limit, scopes: a HEAD costs
// what a GET costs) and its handler, and gets the same status and headers,
// without a body. An error is rendered with the same status and headers,
// Content-Length included. A path with an explicit HEAD route (or an Any
// route) keeps it. It answers exactly as Echo v4's middleware.Head does.
//
// Install it with Echo's Pre, so it runs before routing:
//
//	e.Pre(echo5.Must(echo5.Head(echo5.HeadConfig{})))
//
// While the chain runs, the request's method is GET (Echo routes on it,
// and the handler sees it); it is HEAD again before the response is
// finished and before an error is rendered. The body the handler writes is
// counted and dropped: the response carries the Content-Length GET would
// have, unless the handler set its own or flushed. It never returns a
// configuration error today.
func Head(cfg HeadConfig) (echo.MiddlewareFunc, error) {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			req := c.Request()
			if req.Method != http.MethodHead || (cfg.Skip != nil && cfg.Skip(req)) {
				return next(c)
			}
			e := c.Echo()
			res, err := echo.UnwrapResponse(c.Response())
			if e == nil || err != nil {
				return next(c)
			}
			// Does the app route HEAD for this path itself? Routing here
			// only fills c's route; Echo routes again after Pre.
			e.Router().Route(c)
			if m := c.RouteInfo().Method; m == http.MethodHead || m == echo.RouteAny {
				return next(c)
			}
			if c.Get(echo.ContextKeyHeaderAllow) != nil {
				c.Set(echo.ContextKeyHeaderAllow, nil) // the 405 leftovers
			}
			// Echo routes on the method of the request it was given, so it
			// changes in place, as Echo's own MethodOverride does.
			req.Method = http.MethodGet
			hw := frontdoor.NewHeadWriter(res.ResponseWriter)
			res.ResponseWriter = hw
			defer func() {
				req.Method = http.MethodHead
				if c.Request() != req {
					c.Request().Method = http.MethodHead
				}
				res.ResponseWriter = hw.ResponseWriter
				hw.Finish()
			}()
			return next(c)
		}
	}, nil
}
