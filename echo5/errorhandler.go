package echo5

import (
	"github.com/clipia/apiguard/errorsx"
	"github.com/labstack/echo/v5"
)

// ErrorHandler returns the Echo v5 front door of the one renderer.
func ErrorHandler(cfg errorsx.HandlerConfig) echo.HTTPErrorHandler {
	r := errorsx.NewRenderer(cfg)
	return func(c *echo.Context, err error) {
		if err == nil || errorsx.IsRendered(err) {
			return
		}
		r.Write(c.Response(), c.Request(), c.Path(), errorsx.From(err))
	}
}

// Render renders err now through the app's error handler and returns
// errorsx.Rendered(err), so the handler writes and logs nothing again.
func Render(c *echo.Context, err error) error {
	if err == nil || errorsx.IsRendered(err) {
		return err
	}
	c.Echo().HTTPErrorHandler(c, err)
	return errorsx.Rendered(err)
}

// RouteMatched reports whether the request of c matched a route of the app.
func RouteMatched(c *echo.Context) bool {
	return c.Path() != ""
}

// Must returns v, or panics with err: for constructors called in main.
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
