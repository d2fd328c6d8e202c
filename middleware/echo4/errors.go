package echo4

import (
	"errors"
	"sync"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/internal/echoroute"
	"github.com/clipia/apiguard/internal/frontdoor"
	"github.com/labstack/echo/v4"
)

// ErrorHandler returns the Echo v4 front door of the one renderer
// (errorsx.Renderer): an echo.HTTPErrorHandler that hands every error, from
// guards, handlers, Echo itself (unknown route, 405, 413, 415, binder
// errors) and recovered panics, to the renderer, which writes it as one row
// of the catalogue. [Install] installs it.
//
// Echo's own errors are mapped by status with errorsx.FromStatus (the
// router's 405 becomes 404 not_found, without the Allow header Echo set; an
// *echo.BindingError names its parameter as param), validator errors a
// handler returns become the 400 of bind.FromValidationErrors, and everything
// else is mapped by errorsx.From. A response already committed is never
// rewritten (errorsx.Renderer.Committed), and an error rendered early
// (errorsx.Rendered) is not rendered or logged again. The handler is safe for
// concurrent use.
func ErrorHandler(cfg errorsx.HandlerConfig) echo.HTTPErrorHandler {
	r := errorsx.NewRenderer(cfg)
	return func(err error, c echo.Context) {
		if err == nil || errorsx.IsRendered(err) {
			return
		}
		res := c.Response()
		if err == errMethodNotAllowed && !res.Committed {
			// A wrong method is an unknown route: its 404 does not list
			// the path's methods, on any front door.
			delete(res.Header(), echo.HeaderAllow)
		}
		route := ""
		if echoroute.Matched(c) {
			route = guard.Template(c.Path())
		}
		frontdoor.Write(r, res, c.Request(), route, res.Committed, res.Status, FromEcho(err))
	}
}

// errMethodNotAllowed is the error Echo's router answers a wrong method
// with.
var errMethodNotAllowed error = echo.ErrMethodNotAllowed

// FromEcho maps an error of an Echo v4 app onto the catalogue, as
// [ErrorHandler] renders it: an *errorsx.Error in the chain as is; Echo's
// *HTTPError by its status (errorsx.FromStatus; an *HTTPError held as the
// Internal of another decides, as in Echo's own handler); an
// *echo.BindingError as a 400 naming its parameter; validator errors as
// bind.FromValidationErrors (when bind is compiled in); anything else as
// errorsx.From. It never panics.
func FromEcho(err error) (mapped *errorsx.Error) {
	switch x := err.(type) {
	case nil:
		return nil
	case *errorsx.Error:
		if x != nil {
			return errorsx.From(err)
		}
	case *echo.HTTPError:
		if x != nil && x.Internal == nil {
			return errorsx.FromStatus(x.Code, "", err)
		}
	}
	defer func() {
		if recover() != nil {
			mapped = errorsx.From(err) // records the panic as the cause
		}
	}()
	t := echoTargetsPool.Get().(*echoTargets)
	defer t.release()
	if errors.As(err, &t.e) {
		return errorsx.From(err)
	}
	he, field := (*echo.HTTPError)(nil), ""
	switch {
	case errors.As(err, &t.he) && t.he != nil:
		he = t.he
	case errors.As(err, &t.be) && t.be != nil && t.be.HTTPError != nil:
		// Echo's parameter binders return an *echo.BindingError, whose
		// embedded *echo.HTTPError is not in the Unwrap chain.
		he, field = t.be.HTTPError, t.be.Field
	default:
		return errorsx.From(err)
	}
	if in, ok := he.Internal.(*echo.HTTPError); ok && in != nil {
		he = in
	}
	return errorsx.FromStatus(he.Code, field, err)
}

// echoTargets holds the errors.As targets of one [FromEcho] call; pooled,
// since a target whose address goes to errors.As escapes.
type echoTargets struct {
	e  *errorsx.Error
	he *echo.HTTPError
	be *echo.BindingError
}

var echoTargetsPool = sync.Pool{New: func() any { return new(echoTargets) }}

func (t *echoTargets) release() {
	*t = echoTargets{}
	echoTargetsPool.Put(t)
}
