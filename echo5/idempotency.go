package echo5

import (
	"net/http"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/idempotency"
	"github.com/labstack/echo/v5"
)

// Idempotency returns the Echo v5 front door of the idempotency guard
// (idempotency.New, idempotency.Guard.Serve): a retried POST, PATCH, PUT or
// DELETE with the same Idempotency-Key runs the handler once and gets the
// first answer back. Install it after authentication and before
// validation:
//
//	idem := echo5.Must(echo5.Idempotency(idempotency.Config{Store: store}))
//	e.POST("/v1/generations", create, auth, idem)
//
// A request that matched no route answers 404 not_found first (see
// [RouteMatched]). Errors are returned, for [ErrorHandler]; an error the
// handler returns is rendered at once (as [Render] does) so that the
// response is stored as the client saw it. While the handler runs,
// c.Request() carries the guard's context (cancelled with cause
// idempotency.ErrLeaseLost when the claim is lost) and c.Response() is the
// guard's writer over the app's. It returns the errors of idempotency.New.
func Idempotency(cfg idempotency.Config) (echo.MiddlewareFunc, error) {
	g, err := idempotency.New(cfg)
	if err != nil {
		return nil, err
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			if !RouteMatched(c) {
				return errorsx.NotFound()
			}
			res, req := c.Response(), c.Request()
			return g.Serve(res, req, c.Path(),
				func(w http.ResponseWriter, r *http.Request) error {
					c.SetResponse(w)
					c.SetRequest(r)
					defer func() {
						c.SetResponse(res)
						c.SetRequest(req)
					}()
					return next(c)
				},
				func(w http.ResponseWriter, r *http.Request, err error) {
					c.SetResponse(w)
					c.SetRequest(r)
					_ = Render(c, err)
					c.SetResponse(res)
					c.SetRequest(req)
				})
		}
	}, nil
}
