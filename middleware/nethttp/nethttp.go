// Package nethttp is apiguard's front door for net/http: http.ServeMux (Go
// 1.22+ patterns), chi (with middleware/chi5) and any router that sets
// http.Request.Pattern and PathValue. It imports no web framework. It
// translates a request into the one guard contract (package guard), so every
// guard — auth.Authenticator, auth.Scopes, ratelimit.Limiter,
// ratelimit.Concurrency, idempotency.Guard, bind.Binder and the
// request-level guards of package guard — runs here as on every other door:
//
//	mux := http.NewServeMux()
//	mux.Handle("GET /v1/models/{id}", nethttp.Use(authn, read)(nethttp.HandlerFunc(getModel)))
//	h := nethttp.Install(mux, nethttp.Config{Use: []guard.Guard{guard.RequestID(guard.RequestIDConfig{}), rec}})
//	http.ListenAndServe(":8080", h)
//
// [Install] is the front handler around the app's router: it runs the
// request-level guards, reads the path once (guard.CleanPath: odd paths
// answer 404, never a redirect), answers a request that no ServeMux pattern
// matches (a wrong method included) 404 not_found, serves HEAD wherever GET
// is served, and carries the app's one renderer (errorsx.Renderer) for the
// request. [Use] turns guards into one func(http.Handler) http.Handler for
// a route or a group. Handlers return errors from a [HandlerFunc], or write
// them with [Error].
package nethttp

import (
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/internal/frontdoor"
)

// Config configures [Install]. The zero value is valid.
type Config struct {
	// Errors configures the one renderer: its logger, RFC 9457
	// problem+json, the 401 realm.
	Errors errorsx.HandlerConfig

	// Use are the request-level guards run for every request before
	// routing, in order: guard.RequestID, guard.Recover, guard.HeaderLimit.
	// Guards that act on a route (auth, limits, idempotency, bind) go on
	// routes and groups with [Use]; here they would see no route and
	// answer 404.
	Use []guard.Guard

	// Routes finds the route of a request for a router other than
	// ServeMux, whose middlewares run before it has routed the request
	// (chi: chi5.Routes(mux)). Nil for a ServeMux.
	Routes RouteFinder
}

// RouteFinder returns the route pattern, in the router's own spelling,
// that r matches with method (which may differ from r.Method), or "" when
// none does. It must not keep r.
type RouteFinder func(r *http.Request, method string) (pattern string)

// Install returns the net/http front door around next, the app's router.
// For every request it installs the renderer of cfg.Errors, runs cfg.Use,
// then answers a path that can match no route (guard.CleanPath) 404
// not_found, and serves HEAD as GET where the router has a GET route and no
// HEAD route for the path (guards and handler see GET; the body is counted
// and dropped, the status and headers are GET's). When next is an
// *http.ServeMux, a request that matches no pattern, or only with another
// method, is answered 404 not_found without an Allow header, and its
// redirect of "/tree" to "/tree/" is a 404 too (so is a handler's own 307
// from a path to the same path with a slash, which reads the same): the
// mux's own answers never reach the client. The ServeMux routes each
// request once (HEAD twice: is there a GET pattern?).
//
// The writer handlers get keeps http.Flusher, http.Hijacker and Unwrap.
// Middlewares between Install and a ServeMux hide the mux: wrap them around
// each route's handler instead, or around the handler Install returns. A
// nil next panics. The handler is safe for concurrent use.
func Install(next http.Handler, cfg Config) http.Handler {
	if next == nil {
		panic("nethttp: Install: next is nil")
	}
	d := &door{next: next, render: errorsx.NewRenderer(cfg.Errors), pre: guard.Chain(cfg.Use...), routes: cfg.Routes}
	if mux, ok := next.(*http.ServeMux); ok && muxSetsPattern() {
		d.mux = mux
	}
	return d
}

type door struct {
	next   http.Handler
	mux    *http.ServeMux // next, when it is a ServeMux
	render *errorsx.Renderer
	pre    guard.Guard
	routes RouteFinder
}

// muxSetsPattern reports whether ServeMux sets Request.Pattern before it
// calls a handler (it does not under GODEBUG=httpmuxgo121=1).
var muxSetsPattern = sync.OnceValue(func() bool {
	m := http.NewServeMux()
	m.HandleFunc("/", func(http.ResponseWriter, *http.Request) {})
	r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/"}}
	m.ServeHTTP(nil, r)
	return r.Pattern == "/"
})

func (d *door) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := states.Get().(*state)
	s.door, s.Tracker = d, frontdoor.Tracker{ResponseWriter: w, Renderer: d.render}
	head := r.Method == http.MethodHead
	if head {
		s.head = guard.HeadWriter{ResponseWriter: w}
		s.Tracker.ResponseWriter = &s.head
	}
	if err := d.pre.Serve(s, r, s); err != nil {
		s.probing, s.dropping = false, false
		route := ""
		if err != guard.ErrNotFound && s.req != nil {
			route = routeOf(s, s.req)
		}
		frontdoor.Error(s, r, route, err)
	}
	if head {
		s.head.Finish()
	}
	*s = state{scratch: s.scratch}
	states.Put(s)
}

// state is the per-request value of [Install]: the writer every handler
// gets (over the frontdoor.Tracker carrying the renderer) and the
// guard.Call of the request-level guards. While a ServeMux routes, it
// watches whether the mux answers on its own terms, and drops that answer.
type state struct {
	frontdoor.Tracker
	door     *door
	head     guard.HeadWriter
	req      *http.Request // the request next serves
	route    string        // the RouteFinder's route of req, once found
	probing  bool          // the ServeMux has not shown whether a pattern matched
	dropping bool          // the ServeMux answers itself: dropped for a 404
	scratch  http.Header   // the headers of a dropped answer
}

var states = sync.Pool{New: func() any { return new(state) }}

// Route returns "": request-level guards run before routing.
func (s *state) Route() string { return "" }

// Param returns "": request-level guards run before routing.
func (s *state) Param(string) string { return "" }

// Next routes the request and serves it.
func (s *state) Next(w http.ResponseWriter, r *http.Request) error {
	d := s.door
	if !guard.CleanPath(r) {
		return guard.ErrNotFound
	}
	if r.Method == http.MethodHead && d.headAsGet(r) {
		get := new(http.Request)
		*get = *r
		get.Method = http.MethodGet
		r = get
	}
	s.req, s.probing = r, d.mux != nil
	d.next.ServeHTTP(w, r)
	dropped := s.dropping
	s.probing, s.dropping = false, false
	if dropped {
		return guard.ErrNotFound
	}
	return nil
}

// headAsGet reports whether the router serves the HEAD request r with a
// GET route.
func (d *door) headAsGet(r *http.Request) bool {
	if d.mux != nil {
		_, p := d.mux.Handler(r)
		return strings.HasPrefix(p, "GET ") || strings.HasPrefix(p, "GET\t")
	}
	return d.routes != nil && d.routes(r, http.MethodHead) == "" && d.routes(r, http.MethodGet) != ""
}

// Render renders err on w now.
func (s *state) Render(w http.ResponseWriter, r *http.Request, err error) {
	frontdoor.Error(w, r, "", err)
}

// Header returns the response headers (a scratch set for a dropped answer).
func (s *state) Header() http.Header {
	if s.drop(0) {
		return s.scratch
	}
	return s.Tracker.Header()
}

// WriteHeader sends the status, unless the answer is dropped.
func (s *state) WriteHeader(code int) {
	if !s.drop(code) {
		s.Tracker.WriteHeader(code)
	}
}

// Write writes p, unless the answer is dropped.
func (s *state) Write(p []byte) (int, error) {
	if s.drop(http.StatusOK) {
		return len(p), nil
	}
	return s.Tracker.Write(p)
}

// Unwrap returns the Tracker, for frontdoor.TrackerOf and
// http.ResponseController.
func (s *state) Unwrap() http.ResponseWriter { return &s.Tracker }

// drop reports whether what is written now (code, or 0 for the headers) is
// the ServeMux's own answer: no pattern matched (the mux sets
// Request.Pattern before it calls a matched handler; its 404 and 405 run
// without one), or its 307 from a path to the path with a slash appended.
func (s *state) drop(code int) bool {
	switch {
	case s.dropping:
		return true
	case !s.probing:
		return false
	case s.req.Pattern == "":
	case code == http.StatusTemporaryRedirect && toSlash(s.Tracker.Header().Get("Location"), s.req):
		delete(s.Tracker.Header(), "Location")
	default:
		if code != 0 {
			s.probing = false // a matched handler writes
		}
		return false
	}
	s.probing, s.dropping = false, true
	if s.scratch == nil {
		s.scratch = make(http.Header)
	}
	clear(s.scratch)
	return true
}

// toSlash reports whether loc is the path of r with a slash appended.
func toSlash(loc string, r *http.Request) bool {
	if i := strings.IndexByte(loc, '?'); i >= 0 {
		loc = loc[:i]
	}
	p := r.URL.EscapedPath()
	return len(loc) == len(p)+1 && loc[len(p)] == '/' && loc[:len(p)] == p
}
