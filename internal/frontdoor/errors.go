package frontdoor

import (
	"errors"
	"net/http"
	"sync"

	"sync/atomic"

	"github.com/clipia/apiguard/errorsx"
)

// validation maps a validator error (go-playground/validator's
// ValidationErrors) onto the catalogue: package bind registers it when a
// program imports bind, so a program that never binds compiles no
// validator.
var validation atomic.Pointer[func(error) *errorsx.Error]

// SetValidationMapper registers f, which returns the 400 of a validator
// error in err's chain, or nil. Package bind calls it at init.
func SetValidationMapper(f func(error) *errorsx.Error) { validation.Store(&f) }

// StatusCoder is an error that carries the HTTP status it answers with, as
// Echo v5's errors do (its *HTTPError, its ErrNotFound-style sentinels, its
// *BindingError) and as many libraries' errors do.
type StatusCoder interface {
	error
	StatusCode() int
}

// Map maps err onto the catalogue as the Echo v5 and net/http front doors
// render it, the rules of Echo v4's middleware.FromEcho for errors that
// carry their status with a StatusCode method:
//
//   - an *errorsx.Error in the chain as is;
//   - else the first [StatusCoder] in the chain by its status
//     (errorsx.FromStatus; when it directly wraps another StatusCoder, the
//     inner one decides, as a 413 inside a binder's 400); field, when not
//     nil, names the parameter at fault from err;
//   - else validator errors as bind.FromValidationErrors (when bind is
//     compiled in);
//   - else errorsx.From.
//
// Map(nil) is nil. It never panics: an error whose methods panic becomes
// the 500 errorsx.From gives it.
func Map(err error, field func(error) string) (mapped *errorsx.Error) {
	if err == nil {
		return nil
	}
	if x, ok := err.(*errorsx.Error); ok && x != nil {
		return errorsx.From(err)
	}
	defer func() {
		if recover() != nil {
			mapped = errorsx.From(err) // records the panic as the cause
		}
	}()
	if x, ok := err.(StatusCoder); ok && errors.Unwrap(err) == nil {
		// A framework's own bare error (the router's 404 and 405): no
		// chain to walk, the hot path of an unknown-route flood.
		return errorsx.FromStatus(x.StatusCode(), "", err)
	}
	t := targetsPool.Get().(*targets)
	defer t.release()
	if errors.As(err, &t.e) {
		return errorsx.From(err)
	}
	if errors.As(err, &t.sc) {
		sc := t.sc
		if u, ok := sc.(interface{ Unwrap() error }); ok {
			if in, ok := u.Unwrap().(StatusCoder); ok && in != nil {
				sc = in
			}
		}
		name := ""
		if field != nil {
			name = field(err)
		}
		return errorsx.FromStatus(sc.StatusCode(), name, err)
	}
	if f := validation.Load(); f != nil {
		if e := (*f)(err); e != nil {
			return e
		}
	}
	return errorsx.From(err)
}

// targets holds the errors.As targets of one [Map] call; pooled, since a
// target whose address goes to errors.As escapes.
type targets struct {
	e  *errorsx.Error
	sc StatusCoder
}

var targetsPool = sync.Pool{New: func() any { return new(targets) }}

func (t *targets) release() {
	*t = targets{}
	targetsPool.Put(t)
}

// Write renders e, the mapped err, as the response of req on w: with the
// renderer when the response is not committed yet, else through
// errorsx.Renderer.Committed with the status already sent. Every front
// door's error handler ends in it.
func Write(r *errorsx.Renderer, w http.ResponseWriter, req *http.Request, route string, committed bool, status int, e *errorsx.Error) {
	if committed {
		r.Committed(w, req, route, status, e)
		return
	}
	r.Write(w, req, route, e)
}
