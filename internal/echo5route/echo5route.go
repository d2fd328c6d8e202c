// Package echo5route answers, for Echo v5, whether a request matched one of
// the app's routes: the Echo v5 door (middleware/echo5) asks [Matched] for
// its guard.Call's Route and for the route its error handler logs. It
// mirrors internal/echoroute, which does the same for Echo v4.
package echo5route

import (
	"sync"

	"github.com/labstack/echo/v5"
)

// Matched reports whether the request of c matched a route of the app.
//
// Echo v5's router gives a request that matched no path an empty route
// path, and a known path with another method (its 405, or an OPTIONS it
// answers itself) the Allow value in the context. Echo runs a group's
// middlewares for every path under the group, known or not: Group.Use
// registers catch-all "route not found" routes so that they run, and a
// request routed to one of those matched no route either. When a path is
// both a "route not found" route and a real one (a group's catch-all and
// the app's own "/v1/*" route), the matched route's method tells them
// apart. Matched does not allocate unless a path is both.
func Matched(c *echo.Context) bool {
	path := c.Path()
	if path == "" || c.Get(echo.ContextKeyHeaderAllow) != nil {
		return false
	}
	e := c.Echo()
	if e == nil {
		return true
	}
	switch indexOf(e).kind(e, path) {
	case realOnly:
		return true
	case notFoundOnly:
		return false
	}
	return c.RouteInfo().Method != echo.RouteNotFound
}

// pathKind is what the routes of one path are.
type pathKind uint8

const (
	realOnly     pathKind = iota // only real routes have the path
	notFoundOnly                 // only "route not found" routes have it
	both                         // both kinds have it
)

// index knows, per route path, which kinds of routes have it.
type index struct {
	mu    sync.RWMutex
	paths map[string]pathKind
}

var indexes sync.Map // *echo.Echo → *index

func indexOf(e *echo.Echo) *index {
	if v, ok := indexes.Load(e); ok {
		return v.(*index)
	}
	v, _ := indexes.LoadOrStore(e, &index{})
	return v.(*index)
}

// kind returns the kind of path.
func (x *index) kind(e *echo.Echo, path string) pathKind {
	x.mu.RLock()
	k, ok := x.paths[path]
	x.mu.RUnlock()
	if ok {
		return k
	}
	return x.rebuild(e, path)
}

// rebuild reads the routes of e again (a route was added since the last
// read) and answers for path. Route paths are the app's patterns, never a
// client's raw path, so the index stays as small as the route table.
func (x *index) rebuild(e *echo.Echo, path string) pathKind {
	type seen struct{ real, notFound bool }
	m := make(map[string]seen)
	for _, r := range e.Router().Routes() {
		p := r.Path
		if p == "" || p[0] != '/' {
			p = "/" + p // as the router normalises it for c.Path()
		}
		s := m[p]
		if r.Method == echo.RouteNotFound {
			s.notFound = true
		} else {
			s.real = true
		}
		m[p] = s
	}
	paths := make(map[string]pathKind, len(m)+1)
	for p, s := range m {
		switch {
		case s.real && s.notFound:
			paths[p] = both
		case s.notFound:
			paths[p] = notFoundOnly
		default:
			paths[p] = realOnly
		}
	}
	k, ok := paths[path]
	if !ok {
		// A path the router found but no route lists: ask the route
		// itself, every time.
		k = both
		paths[path] = k
	}
	x.mu.Lock()
	x.paths = paths
	x.mu.Unlock()
	return k
}
