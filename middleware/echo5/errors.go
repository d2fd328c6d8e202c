package echo5

import (
	"errors"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/internal/frontdoor"
	"github.com/labstack/echo/v5"
)

// ErrorHandler returns the Echo v5 front door of the one renderer
// (errorsx.Renderer): an echo.HTTPErrorHandler that hands every error, from
// guards, handlers, Echo itself (unknown route, 405, 413, 415, binder
// errors) and recovered panics, to the renderer, which writes it as one row
// of the catalogue, byte for byte as the other doors do. [Install]
// installs it.
//
// Errors map as [FromEcho] maps them; the router's 405 becomes 404
// not_found, without the Allow header Echo set. A response already
// committed (the *echo.Response under c.Response(), found with
// echo.UnwrapResponse) is never rewritten (errorsx.Renderer.Committed),
// and an error rendered early (errorsx.Rendered) is not rendered or logged
// again. The handler is safe for concurrent use.
func ErrorHandler(cfg errorsx.HandlerConfig) echo.HTTPErrorHandler {
	r := errorsx.NewRenderer(cfg)
	return func(c *echo.Context, err error) {
		if err == nil || errorsx.IsRendered(err) {
			return
		}
		w := c.Response()
		committed, status := false, 0
		if res, uerr := echo.UnwrapResponse(w); uerr == nil {
			committed, status = res.Committed, res.Status
		}
		if err == errMethodNotAllowed && !committed {
			// A wrong method is an unknown route: its 404 does not list
			// the path's methods, on any front door.
			delete(w.Header(), echo.HeaderAllow)
		}
		route := ""
		if matched(c) {
			route = guard.Template(c.Path())
		}
		frontdoor.Write(r, w, c.Request(), route, committed, status, FromEcho(err))
	}
}

// errMethodNotAllowed is the error Echo's router answers a wrong method
// with.
var errMethodNotAllowed error = echo.ErrMethodNotAllowed

// defaultHandler renders for a context that belongs to no Echo.
var defaultHandler = ErrorHandler(errorsx.HandlerConfig{})

// FromEcho maps an error of an Echo v5 app onto the catalogue, as
// [ErrorHandler] renders it and as Echo v4's door maps the same errors: an
// *errorsx.Error in the chain as is; an error with Echo v5's StatusCode
// method (*echo.HTTPError, echo.ErrNotFound and the other sentinels) by its
// status (errorsx.FromStatus: 405 is not_found, 413 and 415 are 400s with
// messages of their own); an *echo.BindingError as a 400 naming its
// parameter; validator errors as bind.FromValidationErrors (when bind is
// compiled in); anything else as errorsx.From. FromEcho(nil) is nil. It
// never panics.
func FromEcho(err error) *errorsx.Error {
	if be, ok := err.(*echo.BindingError); ok && be != nil && be.HTTPError != nil {
		return errorsx.FromStatus(be.Code, be.Field, err)
	}
	e := errorsx.From(err)
	if e.Code() == errorsx.CodeInvalidRequest && e.Param() == "" && errors.Unwrap(err) != nil {
		// A wrapped *echo.BindingError still names its parameter.
		var be *echo.BindingError
		if errors.As(err, &be) && be != nil && be.HTTPError != nil {
			return errorsx.FromStatus(be.Code, be.Field, err)
		}
	}
	return e
}
