// Package gin1 is apiguard's front door for gin (github.com/gin-gonic/gin
// v1): it translates gin's context into the one guard contract (package
// guard), so every guard — auth.Authenticator, auth.Scopes,
// ratelimit.Limiter, ratelimit.Concurrency, idempotency.Guard, bind.Binder
// and the request-level guards of package guard — runs on gin as it runs on
// every other door:
//
//	engine := gin.New()
//	h := gin1.Install(engine, gin1.Config{Use: []guard.Guard{guard.RequestID(guard.RequestIDConfig{}), rec}})
//	v1 := engine.Group("/v1", gin1.Use(authn, limit))
//	v1.POST("/generations", gin1.Use(write, idem, body), gin1.Handle(create))
//	http.ListenAndServe(addr, h) // h, not engine
//
// gin has no error handler of its own, so [Install] returns the handler to
// serve: it carries the app's one renderer, runs the request-level guards
// before routing, reads the path once (guard.CleanPath: odd paths answer
// 404, never a redirect) and serves HEAD wherever GET is served. [Use] turns
// guards into one gin.HandlerFunc; [Handle] adapts a handler that returns
// its error; [Error] renders an error from a plain gin handler. Handlers read
// the bound body with bind.Body(c.Request).
package gin1

import (
	"net/http"
	"sync"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/internal/frontdoor"
	"github.com/gin-gonic/gin"
)

// Config configures [Install]. The zero value is valid.
type Config struct {
	// Errors configures the one renderer: its logger, RFC 9457
	// problem+json, the 401 realm.
	Errors errorsx.HandlerConfig

	// Use are the request-level guards run for every request before
	// routing, in order: guard.RequestID, guard.Recover, guard.HeaderLimit.
	// guard.Recover is the app's recover: gin.New has none, and a panic in a
	// guard or a handler reaches it. Guards that act on a route (auth,
	// limits, idempotency, bind) go on routes and groups with [Use]; here
	// they would see no route and answer 404.
	Use []guard.Guard
}

// Install makes engine an apiguard app and returns the handler to serve in
// its place. Install turns off engine.RedirectTrailingSlash,
// RedirectFixedPath and HandleMethodNotAllowed, routes on the escaped path
// (engine.UseRawPath, with UnescapePathValues), and makes NoRoute and
// NoMethod answer the 404 not_found row. The returned handler runs
// cfg.Use, then answers a path that can match no route (guard.CleanPath)
// 404 not_found, and answers HEAD: a HEAD route of the engine serves it,
// else gin's NoRoute routes it again as GET (every guard and the handler see
// GET; the body is counted and dropped, the status and headers are GET's;
// global engine.Use middlewares, which gin runs for NoRoute too, then see
// the request twice). Install it once; the handler is safe for concurrent
// use.
func Install(engine *gin.Engine, cfg Config) http.Handler {
	engine.RedirectTrailingSlash, engine.RedirectFixedPath, engine.HandleMethodNotAllowed = false, false, false
	engine.UseRawPath, engine.UnescapePathValues = true, true // "%2F" is no "/"
	engine.NoRoute(func(c *gin.Context) {
		if r := c.Request; r.Method == http.MethodHead {
			r.Method = http.MethodGet // gin routes on it: HEAD wherever GET is
			c.Status(http.StatusOK)   // not NoRoute's 404, for a handler that never calls WriteHeader
			engine.HandleContext(c)
			r.Method = http.MethodHead
			return
		}
		Error(c, guard.ErrNotFound)
	})
	engine.NoMethod(func(c *gin.Context) { Error(c, guard.ErrNotFound) })
	return &app{engine: engine, render: errorsx.NewRenderer(cfg.Errors), g: guard.Chain(cfg.Use...)}
}

// app is the handler [Install] returns.
type app struct {
	engine *gin.Engine
	render *errorsx.Renderer
	g      guard.Guard
}

// ServeHTTP serves one request.
func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := reqs.Get().(*req)
	method, out := r.Method, w
	if method == http.MethodHead {
		q.head = guard.HeadWriter{ResponseWriter: w}
		out = &q.head
	}
	q.a, q.Tracker = a, frontdoor.Tracker{ResponseWriter: out, Renderer: a.render}
	if err := a.g.Serve(q, r, q); err != nil {
		frontdoor.Error(q, r, guard.Template(q.path), err)
	}
	if method == http.MethodHead {
		q.head.Finish()
	}
	*q = req{}
	reqs.Put(q)
}

// req is the state of one request on the door: the writer gin is given (it
// embeds the request's frontdoor.Tracker) and the guard.Call of the
// request-level guards, which run before routing.
type req struct {
	frontdoor.Tracker
	a    *app
	head guard.HeadWriter // under the tracker, for HEAD
	cur  *call            // the innermost running Use, which takes a handler's error
	path string           // the route gin matched (gin's spelling), once a Use or Handle ran
}

var reqs = sync.Pool{New: func() any { return new(req) }}

// Unwrap returns the tracker, for frontdoor.TrackerOf.
func (q *req) Unwrap() http.ResponseWriter { return &q.Tracker }

// Route returns "": the request-level guards run before routing.
func (q *req) Route() string { return "" }

// Param returns "": no route matched yet.
func (q *req) Param(string) string { return "" }

// Render renders err on w now.
func (q *req) Render(w http.ResponseWriter, r *http.Request, err error) {
	frontdoor.Error(w, r, "", err)
}

// Next reads the path, then routes the request, HEAD as GET when no HEAD
// route matches.
func (q *req) Next(w http.ResponseWriter, r *http.Request) error {
	if !guard.CleanPath(r) {
		return guard.ErrNotFound
	}
	q.a.engine.ServeHTTP(w, r)
	return nil
}

// Patterns lists the routes of e as "METHOD /template" (guard.Patterns),
// for openapi.Check.
func Patterns(e *gin.Engine) []string {
	return guard.Patterns(e.Routes(), func(r gin.RouteInfo) (string, string) { return r.Method, r.Path })
}
