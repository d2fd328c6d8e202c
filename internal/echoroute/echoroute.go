// Package echoroute answers, for Echo v4, whether a request matched one of
// the app's routes: the Echo v4 door (middleware/echo4) asks [Matched]
// for the route of every guard and of every error's log line.
package echoroute

import (
	"sync"

	"github.com/labstack/echo/v4"
)

// Matched reports whether the request of c matched a route of the app.
//
// Echo runs a group's middlewares for every path under the group, known or
// not: Group.Use registers catch-all "route not found" routes so that they
// run. A guard on a group (e.Group("/v1", auth, limit)) therefore also sees
// GET /v1/nope, which Matched reports as unmatched. A wrong method on a
// known path is unmatched too (the contract maps 405 onto 404).
//
// When one path is both a "route not found" route and a real route (a
// group's catch-all and an app's own "/v1/*" route), Matched cannot tell
// them apart and reports true: the guards then apply, which fails closed.
func Matched(c echo.Context) bool {
	path := c.Path()
	e := c.Echo()
	if e == nil {
		return path != ""
	}
	if path == "" || c.Get(echo.ContextKeyHeaderAllow) != nil {
		// No route, or a known path with another method (Echo's 405).
		return false
	}
	return indexOf(e).info(e, path).real
}

// index knows, per route path, whether it belongs to a real route.
type index struct {
	mu    sync.RWMutex
	paths map[string]routeInfo
}

// routeInfo is what the routes of one path are.
type routeInfo struct {
	real bool // a route other than a "route not found" one has the path
}

var indexes sync.Map // *echo.Echo → *index

func indexOf(e *echo.Echo) *index {
	if v, ok := indexes.Load(e); ok {
		return v.(*index)
	}
	v, _ := indexes.LoadOrStore(e, &index{})
	return v.(*index)
}

// info returns what the routes of path are.
func (x *index) info(e *echo.Echo, path string) routeInfo {
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
func (x *index) rebuild(e *echo.Echo, path string) routeInfo {
	m := make(map[string]routeInfo)
	for _, r := range e.Routes() {
		ri := m[r.Path]
		switch r.Method {
		case echo.RouteNotFound:
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
