package middleware

import (
	"net/http"
	"sync"

	"github.com/clipia/apiguard/errorsx"
	"github.com/labstack/echo/v4"
)

// RouteMatched reports whether the request of c matched a route of the app.
//
// Echo runs a group's middlewares for every path under the group, known or
// not: Group.Use registers catch-all "route not found" routes so that they
// run. A guard on a group (e.Group("/v1", auth, limit)) therefore also sees
// GET /v1/nope. Every apiguard guard asks RouteMatched first and answers
// such a request 404 not_found before it does anything else, so an unknown
// route needs no key, spends no token and claims no idempotency key,
// whichever guard sees it first. A wrong method on a known path is an
// unknown route too (the contract maps 405 onto 404).
//
// When one path is both a "route not found" route and a real route (a
// group's catch-all and an app's own "/v1/*" route), RouteMatched cannot
// tell them apart and reports true: the guards then apply, which fails
// closed.
func RouteMatched(c echo.Context) bool {
	path := c.Path()
	e := c.Echo()
	if e == nil {
		return path != ""
	}
	if path == "" || c.Get(echo.ContextKeyHeaderAllow) != nil {
		// No route, or a known path with another method (Echo's 405).
		return false
	}
	return routeIndexOf(e).info(e, path).real
}

// errRouteNotFound is what a guard returns for a request that matched no
// route.
var errRouteNotFound = errorsx.NotFound()

// unmatched returns the 404 of a request that matched no route, or nil.
func unmatched(c echo.Context) error {
	if RouteMatched(c) {
		return nil
	}
	return errRouteNotFound
}

// routeIndex knows, per route path, whether it belongs to a real route.
type routeIndex struct {
	mu    sync.RWMutex
	paths map[string]routeInfo
}

// routeInfo is what the routes of one path are.
type routeInfo struct {
	real bool // a route other than a "route not found" one has the path
	head bool // a HEAD route has the path
}

var routeIndexes sync.Map // *echo.Echo → *routeIndex

func routeIndexOf(e *echo.Echo) *routeIndex {
	if v, ok := routeIndexes.Load(e); ok {
		return v.(*routeIndex)
	}
	v, _ := routeIndexes.LoadOrStore(e, &routeIndex{})
	return v.(*routeIndex)
}

// info returns what the routes of path are.
func (x *routeIndex) info(e *echo.Echo, path string) routeInfo {
	x.mu.RLock()
	ri, ok := x.paths[path]
	x.mu.RUnlock()
	if ok {
		return ri
	}
	return x.rebuild(e, path)
}

// rebuild reads the routes of e again (a route was added since the last
// read) and answers for path. Route paths are the app's patterns, never a
// client's raw path, so the index stays as small as the route table.
func (x *routeIndex) rebuild(e *echo.Echo, path string) routeInfo {
	m := make(map[string]routeInfo)
	for _, r := range e.Routes() {
		ri := m[r.Path]
		switch r.Method {
		case echo.RouteNotFound:
		case http.MethodHead:
			ri.real, ri.head = true, true
		default:
			ri.real = true
		}
		m[r.Path] = ri
	}
	ri, ok := m[path]
	if !ok {
		// A path the router found but no route lists: count it as a real
		// route's, failing closed.
		ri = routeInfo{real: true}
		m[path] = ri
	}
	x.mu.Lock()
	x.paths = m
	x.mu.Unlock()
	return ri
}
