package middleware

import (
	"net/http"

	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/internal/echoroute"
	"github.com/labstack/echo/v4"
)

// Idempotency returns the Echo v4 front door of the idempotency guard
// (idempotency.New, idempotency.Guard.Serve): a retried POST, PATCH, PUT or
// DELETE with the same Idempotency-Key runs the handler once and gets the
// first answer back. Install it after authentication (keys are scoped to
// the caller) and before validation:
//
//	idem := middleware.Must(middleware.Idempotency(idempotency.Config{Store: store, ClientIP: e.IPExtractor}))
//	e.POST("/v1/generations", create, auth, idem)
//
// A request that matched no route answers 404 not_found first (see
// [RouteMatched]); no key is claimed. Errors are returned, for
// [ErrorHandler]; an error the handler returns is rendered at once (as
// [Render] does) so that the response is stored as the client saw it. While
// the handler runs, c.Request() carries the guard's context (cancelled with
// cause idempotency.ErrLeaseLost when the claim is lost) and c.Response()
// writes through the guard. Pass e.IPExtractor as Config.ClientIP when the
// default scope of an unauthenticated request should see the client
// through your proxies. It returns the errors of idempotency.New.
func Idempotency(cfg idempotency.Config) (echo.MiddlewareFunc, error) {
	g, err := idempotency.New(cfg)
	if err != nil {
		return nil, err
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !echoroute.Matched(c) {
				// An unknown route is a 404 whoever sees it first: no claim.
				return errRouteNotFound
			}
			res, req := c.Response(), c.Request()
			// inner is the echo.Response over the guard's writer while the
			// handler runs; render reuses it, so that an error after a
			// partial write sees the response as committed.
			var inner *echo.Response
			return g.Serve(res, req, c.Path(),
				func(w http.ResponseWriter, r *http.Request) error {
					if w == http.ResponseWriter(res) {
						if r == req {
							return next(c) // passed through
						}
						c.SetRequest(r)
						defer c.SetRequest(req)
						return next(c)
					}
					inner = echo.NewResponse(w, c.Echo())
					c.SetResponse(inner)
					c.SetRequest(r)
					defer func() {
						c.SetResponse(res)
						c.SetRequest(req)
					}()
					return next(c)
				},
				func(w http.ResponseWriter, r *http.Request, err error) {
					target := res
					if w != http.ResponseWriter(res) {
						if inner != nil && inner.Writer == w {
							target = inner
						} else {
							target = echo.NewResponse(w, c.Echo())
						}
					}
					c.SetResponse(target)
					c.SetRequest(r)
					_ = Render(c, err)
					c.SetResponse(res)
					c.SetRequest(req)
				})
		}
	}, nil
}
