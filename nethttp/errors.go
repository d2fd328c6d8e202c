package nethttp

import (
	"net/http"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/frontdoor"
)

// defaultRenderer renders for requests that did not pass through Handler.
var defaultRenderer = errorsx.NewRenderer(errorsx.HandlerConfig{})

// Error writes err to w as the one envelope (errorsx.Renderer), the same
// bytes the Echo front doors write for it, with the renderer that
// [Handler] installed for the request (else one with the zero
// errorsx.HandlerConfig). Every guard of this package writes its errors
// with it; handlers may too, or return them from a [HandlerFunc].
//
// err maps as errorsx.From maps it, with two additions shared with the
// Echo v5 front door: an error with a StatusCode() int method maps by that
// status (errorsx.FromStatus), and go-playground/validator errors become
// the 400 of bind.FromValidationErrors. An error marked errorsx.Rendered
// writes nothing. When the response was already written (Handler tracks
// that, through any writer in between that has an Unwrap method, as
// http.ResponseController expects), nothing is written: the error is
// logged once, unless the response is the renderer's own rendering of it.
// Error of nil does nothing.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	if err == nil || errorsx.IsRendered(err) {
		return
	}
	write(w, r, route(r), frontdoor.Map(err, nil))
}

// HandlerFunc is an http.Handler that returns its error: ServeHTTP writes
// a returned error with [Error]. A nil error writes nothing more.
//
//	mux.Handle("GET /v1/models/{id}", nethttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
//		return errorsx.NotFound()
//	}))
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// ServeHTTP calls f and writes its error with [Error].
func (f HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := f(w, r); err != nil {
		Error(w, r, err)
	}
}

// NotFound answers 404 not_found, as the Echo front doors answer a request
// that matched no route. It is an http.HandlerFunc: a router's "not found"
// handler (chi's r.NotFound(nethttp.NotFound)). [Handler] answers unknown
// routes of a ServeMux this way by itself.
func NotFound(w http.ResponseWriter, r *http.Request) {
	renderUnmatched(w, r, errNotFound)
}

// MethodNotAllowed answers a known path with a wrong method as the Echo
// front doors do: 404 not_found, since the contract maps 405 onto 404. It
// is an http.HandlerFunc: a router's "method not allowed" handler (chi's
// r.MethodNotAllowed(nethttp.MethodNotAllowed)).
func MethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	renderUnmatched(w, r, errMethodNotAllowed)
}

// The errors of an unmatched request, mapped as the Echo front doors map
// their routers' 404 and 405.
var (
	errNotFound         = errorsx.FromStatus(http.StatusNotFound, "", nil)
	errMethodNotAllowed = errorsx.FromStatus(http.StatusMethodNotAllowed, "", nil)
)

// renderUnmatched writes e, the answer to a request that matched no route,
// logged with no route (the path is the client's, not the app's).
func renderUnmatched(w http.ResponseWriter, r *http.Request, e *errorsx.Error) {
	write(w, r, "", e)
}

// write renders e, the mapped error, for route with the renderer of the
// request: once, and never over a response already written.
func write(w http.ResponseWriter, r *http.Request, route string, e *errorsx.Error) {
	render, status := defaultRenderer, 0
	if rw := trackerOf(w); rw != nil {
		render, status = rw.render, rw.status
	}
	frontdoor.Write(render, w, r, route, status != 0, status, e)
}

// route is the route pattern of r as guards report it: the ServeMux pattern
// when the request was routed, else the path.
func route(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return r.URL.Path
}

// Must returns v, or panics when err is not nil. Every constructor of
// apiguard returns its value and an error; Must is for program setup in
// main, where a bad configuration should stop the program:
//
//	h := nethttp.Must(nethttp.Handler(mux, nethttp.Config{}))
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
