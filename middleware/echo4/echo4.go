// Package echo4 is apiguard's front door for Echo v4: it translates Echo's
// context into the one guard contract (package guard), so every guard —
// auth.Authenticator, auth.Scopes, ratelimit.Limiter, ratelimit.Concurrency,
// idempotency.Guard, bind.Binder and the request-level guards of package
// guard — runs on Echo v4 as it runs on every other door:
//
//	e := echo.New()
//	echo4.Install(e, echo4.Config{Use: []guard.Guard{guard.RequestID(guard.RequestIDConfig{}), rec}})
//	v1 := e.Group("/v1", echo4.Use(authn, limit))
//	v1.POST("/generations", create, echo4.Use(write, idem, body))
//
// [Install] makes the app's one renderer Echo's HTTPErrorHandler and runs,
// before routing, the request-level guards, the one reading of a path
// (guard.CleanPath: odd paths answer 404, never a redirect) and HEAD
// wherever GET is served. [Use] turns guards into one echo.MiddlewareFunc.
// Handlers return errors (errorsx values or any error) and read the bound
// body with bind.Body(c.Request()).
package echo4

import (
	"net/http"
	"strings"
	"sync"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/internal/echoroute"
	"github.com/labstack/echo/v4"
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
}

// Install makes e an apiguard app: e.HTTPErrorHandler becomes
// [ErrorHandler](cfg.Errors), and a Pre middleware runs cfg.Use, then
// answers a path that can match no route (guard.CleanPath) 404 not_found,
// and routes HEAD to the GET route of a path that has no HEAD route of its
// own (every guard and the handler see GET; the body is counted and
// dropped, the status and headers are GET's); after routing, a first
// middleware answers 404 for what Echo's router would serve on its own
// terms (see routed). Install it once, before serving.
//
// An Echo middleware that answers a request itself before any route, such
// as middleware.CORS for preflight requests, goes in e.Pre: mounted with
// e.Use it runs after routing, where OPTIONS of a path without an OPTIONS
// route has already answered 404.
func Install(e *echo.Echo, cfg Config) {
	e.HTTPErrorHandler = ErrorHandler(cfg.Errors)
	g := guard.Chain(cfg.Use...)
	// One closure per request, as every Echo v4 middleware: the Call runs
	// pre at the end of cfg.Use (see call.Next).
	e.Pre(func(next echo.HandlerFunc) echo.HandlerFunc { return serve(g, next, false) })
	e.Use(routed)
}

// pre runs after the request-level guards, before routing: the one reading
// of a path, and HEAD as GET where the path has no HEAD route of its own.
func pre(c echo.Context, next echo.HandlerFunc) error {
	req := c.Request()
	if !guard.CleanPath(req) {
		return guard.ErrNotFound
	}
	if req.Method != http.MethodHead {
		return next(c)
	}
	// Does the app route HEAD for this path itself?
	c.Echo().Router().Find(http.MethodHead, echo.GetPath(req), c)
	if c.Get(echo.ContextKeyHeaderAllow) == nil && echoroute.Matched(c) {
		return next(c) // a HEAD (or Any) route of its own
	}
	c.Set(echo.ContextKeyHeaderAllow, nil) // Find's 405 leftovers
	req.Method = http.MethodGet            // Echo routes on it, as its MethodOverride does
	res := c.Response()
	hw := guard.NewHeadWriter(res.Writer)
	res.Writer = hw
	defer func() {
		req.Method = http.MethodHead
		c.Request().Method = http.MethodHead
		res.Writer = hw.ResponseWriter
		hw.Finish()
	}()
	return next(c)
}

// routed answers 404 not_found, before anything else runs after routing,
// for what Echo's router serves on its own terms: an unknown route, a wrong
// method, OPTIONS without an OPTIONS route (Echo answers 204 itself), and a
// path parameter that swallowed a "/" (Echo v4 routes /models/a/b to
// /models/:id with id "a/b"; every other door answers 404).
func routed(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !echoroute.Matched(c) {
			return guard.ErrNotFound
		}
		vals := c.ParamValues()
		for i, name := range c.ParamNames() {
			if name != "*" && i < len(vals) && strings.IndexByte(vals[i], '/') >= 0 {
				return guard.ErrNotFound
			}
		}
		return next(c)
	}
}

// Use returns one Echo v4 middleware that runs gs in order (guard.Chain):
// a request that matched no route is answered 404 not_found before the
// first guard that acts on a route. Errors are returned for the app's
// HTTPErrorHandler ([ErrorHandler]). The middleware is safe for concurrent
// use and allocates nothing of its own per request.
func Use(gs ...guard.Guard) echo.MiddlewareFunc {
	g := guard.Chain(gs...)
	return func(next echo.HandlerFunc) echo.HandlerFunc { return serve(g, next, true) }
}

// serve returns the handler that runs g then next; routed tells whether
// Echo has routed the request yet.
func serve(g guard.Guard, next echo.HandlerFunc, routed bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		k := calls.Get().(*call)
		k.c, k.next, k.routed = c, next, routed
		err := g.Serve(c.Response(), c.Request(), k)
		*k = call{}
		calls.Put(k)
		return err
	}
}

// call is the guard.Call of one request on Echo v4.
type call struct {
	c      echo.Context
	next   echo.HandlerFunc
	routed bool
	route  string
	known  bool           // route is set
	inner  *echo.Response // the response over a guard's writer
}

var calls = sync.Pool{New: func() any { return new(call) }}

// Route returns the canonical route, "" when none matched.
func (k *call) Route() string {
	if !k.known {
		k.known = true
		if k.routed && echoroute.Matched(k.c) {
			k.route = guard.Template(k.c.Path())
		}
	}
	return k.route
}

// Param returns a path parameter.
func (k *call) Param(name string) string { return k.c.Param(name) }

// Next runs the rest of the chain with w and r.
func (k *call) Next(w http.ResponseWriter, r *http.Request) error {
	res, req := k.swap(w, r)
	defer k.swap(res, req)
	if !k.routed {
		return pre(k.c, k.next)
	}
	return k.next(k.c)
}

// Render renders err on w now, through the app's HTTPErrorHandler.
func (k *call) Render(w http.ResponseWriter, r *http.Request, err error) {
	res, req := k.swap(w, r)
	k.c.Error(err)
	k.swap(res, req)
}

// swap makes c use w and r and returns what it used before. A guard's
// writer gets one echo.Response for the request, so an error after a
// partial write sees the response as committed.
func (k *call) swap(w http.ResponseWriter, r *http.Request) (*echo.Response, *http.Request) {
	c := k.c
	res, req := c.Response(), c.Request()
	if w != http.ResponseWriter(res) {
		target, ok := w.(*echo.Response)
		if !ok {
			if k.inner == nil || k.inner.Writer != w {
				k.inner = echo.NewResponse(w, c.Echo())
			}
			target = k.inner
		}
		c.SetResponse(target)
	}
	if r != req {
		c.SetRequest(r)
	}
	return res, req
}

// Patterns lists the routes of e as "METHOD /template" (guard.Patterns),
// for openapi.Check.
func Patterns(e *echo.Echo) []string {
	return guard.Patterns(e.Routes(), func(r *echo.Route) (string, string) { return r.Method, r.Path })
}
