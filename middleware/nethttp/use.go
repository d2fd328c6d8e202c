package nethttp

import (
	"net/http"
	"sync"

	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/internal/frontdoor"
)

// Use returns one middleware that runs gs in order (guard.Chain) around a
// route's handler, or around a group's (a chi subrouter's r.Use): a request
// that matched no route is answered 404 not_found before the first guard
// that acts on a route. The route guards see is the request's pattern in
// the canonical spelling of guard.Template (ServeMux's
// "GET /v1/models/{id}" is "/v1/models/{id}"); under [Install] with a
// RouteFinder, the finder's, since a group's middlewares run before the
// router has routed the request. Path parameters are r.PathValue. A guard's
// error is rendered with [Error]. The middleware is safe for concurrent
// use and allocates nothing of its own per request.
func Use(gs ...guard.Guard) func(http.Handler) http.Handler {
	g := guard.Chain(gs...)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k := calls.Get().(*call)
			k.next, k.w, k.r = next, w, r
			if err := g.Serve(w, r, k); err != nil {
				frontdoor.Error(w, r, k.Route(), err)
			}
			*k = call{}
			calls.Put(k)
		})
	}
}

// call is the guard.Call of one request on a route.
type call struct {
	next  http.Handler
	w     http.ResponseWriter
	r     *http.Request
	route string
	known bool // route is set
}

var calls = sync.Pool{New: func() any { return new(call) }}

// Route returns the canonical route, "" when none matched.
func (k *call) Route() string {
	if !k.known {
		k.known, k.route = true, routeOf(k.w, k.r)
	}
	return k.route
}

// Param returns a path parameter.
func (k *call) Param(name string) string { return k.r.PathValue(name) }

// Next runs the rest of the chain with w and r; the handler renders its own
// errors, so Next returns nil.
func (k *call) Next(w http.ResponseWriter, r *http.Request) error {
	k.next.ServeHTTP(w, r)
	return nil
}

// Render renders err on w now.
func (k *call) Render(w http.ResponseWriter, r *http.Request, err error) {
	frontdoor.Error(w, r, k.Route(), err)
}

// routeOf returns the canonical route of r, whose response is w: the
// RouteFinder's under [Install] with one (found once per request), else
// r.Pattern's.
func routeOf(w http.ResponseWriter, r *http.Request) string {
	if s := frontdoor.Find[*state](w); s != nil && s.door.routes != nil {
		if s.route == "" {
			s.route = guard.Template(s.door.routes(r, r.Method))
		}
		return s.route
	}
	return guard.Template(r.Pattern)
}

// Error renders err on w as the answer to r, through the renderer of
// [Install] (else one of the zero errorsx.HandlerConfig): once, never over
// a response already written (then it is logged once), nothing for nil or
// an error marked errorsx.Rendered. An *errorsx.Error renders as is; an
// error with a StatusCode() int method by its status; validator errors as
// bind's 400 (when bind is compiled in); anything else as errorsx.From.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		frontdoor.Error(w, r, routeOf(w, r), err)
	}
}

// HandlerFunc is an http.Handler that returns its error, which ServeHTTP
// renders with [Error]; a nil error writes nothing more.
//
//	mux.Handle("GET /v1/models/{id}", nethttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
//		return errorsx.NotFound()
//	}))
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// ServeHTTP calls f and renders its error with [Error].
func (f HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := f(w, r); err != nil {
		Error(w, r, err)
	}
}

// NotFound answers 404 not_found, without an Allow header, as every door
// answers a request that matched no route: the handler for a router's
// unknown routes and wrong methods (chi's r.NotFound and
// r.MethodNotAllowed). [Install] answers a ServeMux's by itself.
func NotFound(w http.ResponseWriter, r *http.Request) {
	delete(w.Header(), "Allow")
	frontdoor.Error(w, r, "", guard.ErrNotFound)
}
