// Package echo5 is apiguard's front door for Echo v5
// (github.com/labstack/echo/v5): it translates Echo's *echo.Context into the
// one guard contract (package guard), so every guard — auth.Authenticator,
// auth.Scopes, ratelimit.Limiter, ratelimit.Concurrency, idempotency.Guard,
// bind.Binder and the request-level guards of package guard — runs on
// Echo v5 as it runs on every other door:
//
//	e := echo.New()
//	echo5.Install(e, echo5.Config{Use: []guard.Guard{guard.RequestID(guard.RequestIDConfig{}), rec}})
//	v1 := e.Group("/v1", echo5.Use(authn, limit))
//	v1.POST("/generations", create, echo5.Use(write, idem, body))
//
// [Install] makes the app's one renderer Echo's HTTPErrorHandler and runs,
// before routing, the request-level guards, the one reading of a path
// (guard.CleanPath: odd paths answer 404, never a redirect) and HEAD
// wherever GET is served (Echo v5's router does not by default). [Use]
// turns guards into one echo.MiddlewareFunc. Handlers return errors
// (errorsx values or any error) and read the bound body with
// bind.Body(c.Request()).
package echo5

import (
	"net/http"
	"strings"
	"sync"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/labstack/echo/v5"
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
// and routes HEAD to the GET route of a path that has no HEAD (or Any)
// route of its own (every guard and the handler see GET; the body is
// counted and dropped, the status and headers are GET's); after routing, a
// first middleware answers 404 for what Echo's router would serve on its
// own terms (see routed). Install it once, before serving.
func Install(e *echo.Echo, cfg Config) {
	e.HTTPErrorHandler = ErrorHandler(cfg.Errors)
	g := guard.Chain(cfg.Use...)
	e.Pre(func(next echo.HandlerFunc) echo.HandlerFunc {
		pre := func(c *echo.Context) error {
			req := c.Request()
			if !guard.CleanPath(req) {
				return guard.ErrNotFound
			}
			if req.Method != http.MethodHead {
				return next(c)
			}
			res, err := echo.UnwrapResponse(c.Response())
			if err != nil {
				return next(c)
			}
			// Does the app route HEAD for this path itself? Routing here
			// only fills c's route; Echo routes again after Pre.
			c.Echo().Router().Route(c)
			if m := c.RouteInfo().Method; m == http.MethodHead || m == echo.RouteAny {
				return next(c)
			}
			c.Set(echo.ContextKeyHeaderAllow, nil) // the router's 405 leftovers
			req.Method = http.MethodGet            // Echo routes on it, as its MethodOverride does
			hw := guard.NewHeadWriter(res.ResponseWriter)
			res.ResponseWriter = hw
			defer func() {
				req.Method = http.MethodHead
				c.Request().Method = http.MethodHead
				res.ResponseWriter = hw.ResponseWriter
				hw.Finish()
			}()
			return next(c)
		}
		return serve(g, pre, false)
	})
	e.Use(routed)
}

// routed answers 404 not_found, before anything else runs after routing,
// for what Echo's router serves on its own terms: an unknown route, a wrong
// method, OPTIONS without an OPTIONS route (Echo answers 204 itself), and a
// path parameter that swallowed a "/" (every other door answers 404).
func routed(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		if !matched(c) {
			return guard.ErrNotFound
		}
		for _, pv := range c.PathValues() {
			if pv.Name != "*" && strings.IndexByte(pv.Value, '/') >= 0 {
				return guard.ErrNotFound
			}
		}
		return next(c)
	}
}

// Use returns one Echo v5 middleware that runs gs in order (guard.Chain):
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
	return func(c *echo.Context) error {
		k := calls.Get().(*call)
		k.c, k.next, k.routed = c, next, routed
		err := g.Serve(c.Response(), c.Request(), k)
		*k = call{}
		calls.Put(k)
		return err
	}
}

// call is the guard.Call of one request on Echo v5.
type call struct {
	c      *echo.Context
	next   echo.HandlerFunc
	routed bool
	route  string
	known  bool // route is set
}

var calls = sync.Pool{New: func() any { return new(call) }}

// Route returns the canonical route, "" when none matched.
func (k *call) Route() string {
	if !k.known {
		k.known = true
		if k.routed && matched(k.c) {
			k.route = guard.Template(k.c.Path())
		}
	}
	return k.route
}

// Param returns a path parameter.
func (k *call) Param(name string) string { return k.c.Param(name) }

// Next runs the rest of the chain with w and r. Echo v5's context takes
// any writer (a guard's writer unwraps to the *echo.Response), so w and r
// are set on it as they are.
func (k *call) Next(w http.ResponseWriter, r *http.Request) error {
	c := k.c
	res, req := c.Response(), c.Request()
	if w == res && r == req {
		return k.next(c)
	}
	c.SetResponse(w)
	c.SetRequest(r)
	defer func() {
		c.SetResponse(res)
		c.SetRequest(req)
	}()
	return k.next(c)
}

// Render renders err on w now, through the app's HTTPErrorHandler.
func (k *call) Render(w http.ResponseWriter, r *http.Request, err error) {
	c := k.c
	h := defaultHandler
	if e := c.Echo(); e != nil && e.HTTPErrorHandler != nil {
		h = e.HTTPErrorHandler
	}
	res, req := c.Response(), c.Request()
	c.SetResponse(w)
	c.SetRequest(r)
	h(c, err)
	c.SetResponse(res)
	c.SetRequest(req)
}

// matched reports whether c's request matched a route of the app: not a
// group's "route not found" catch-all (Echo runs a group's middlewares for
// every path under it), not a known path with another method (the router's
// 405, which the contract answers 404).
func matched(c *echo.Context) bool {
	p := c.Path()
	if p == "" {
		return false
	}
	if strings.IndexByte(p, ':') >= 0 && !strings.HasSuffix(p, "*") {
		// No catch-all has this path. RouteInfo would copy the route's
		// parameter names: the router's 405 leaves the Allow value in the
		// store instead (a read-locked map).
		return c.Get(echo.ContextKeyHeaderAllow) == nil
	}
	ri := c.RouteInfo()
	return ri.Method != echo.RouteNotFound && ri.Name != echo.MethodNotAllowedRouteName
}

// Patterns lists the routes of e as "METHOD /template" (guard.Patterns),
// for openapi.Check.
func Patterns(e *echo.Echo) []string {
	return guard.Patterns(e.Router().Routes(), func(r echo.RouteInfo) (string, string) { return r.Method, r.Path })
}
