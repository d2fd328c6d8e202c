// Package chi5 lets apiguard's net/http front door (middleware/nethttp)
// serve a chi v5 router: [Routes] tells the door, and the guards of a chi
// subrouter's r.Use (which run before chi has routed the request inside the
// subrouter), which route a request matches.
//
//	r := chi.NewRouter()
//	r.NotFound(nethttp.NotFound)
//	r.MethodNotAllowed(nethttp.NotFound)
//	r.Route("/v1", func(r chi.Router) {
//		r.Use(nethttp.Use(authn, limit))
//		r.With(nethttp.Use(read)).Get("/models/{id}", nethttp.HandlerFunc(getModel).ServeHTTP)
//	})
//	h := nethttp.Install(r, nethttp.Config{Use: requestGuards, Routes: chi5.Routes(r)})
//
// An unknown path under /v1 is then answered 404 not_found before the group's
// guards ask for a key, and every guard sees the route as
// "/v1/models/{id}", as on every other door.
package chi5

import (
	"net/http"
	"strings"
	"sync"

	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/middleware/nethttp"
	"github.com/go-chi/chi/v5"
)

// Routes returns the RouteFinder of mux, the router the door serves: the
// pattern mux.Find gives for the request's routing path (its escaped path
// when it has one, as chi routes), "" when no route matches the method.
// Unlike Find, it reads the path of a subrouter itself ("/v1" and "/v1/"
// under r.Route("/v1", ...)) as the subrouter routes it: the subrouter's
// route for "/", else none. It lists mux's subrouters on its first call:
// register every route before serving, as chi requires. The finder is safe
// for concurrent use and allocates nothing of its own per request (its chi
// route contexts are pooled).
func Routes(mux chi.Routes) nethttp.RouteFinder {
	pool := &sync.Pool{New: func() any { return chi.NewRouteContext() }}
	mounts := sync.OnceValue(func() map[string]mount {
		m := map[string]mount{}
		collect("", mux, m)
		return m
	})
	return func(r *http.Request, method string) string {
		path := r.URL.RawPath
		if path == "" {
			path = r.URL.Path
		}
		rctx := pool.Get().(*chi.Context)
		rctx.Reset()
		pattern := mux.Find(rctx, method, path)
		if m, ok := mounts()[pattern]; ok {
			// Mount's stub for the subrouter's own path: chi routes it
			// to the subrouter as "/".
			rctx.Reset()
			if pattern = m.routes.Find(rctx, method, "/"); pattern != "" {
				pattern = m.prefix + pattern
			}
		}
		pool.Put(rctx)
		return pattern
	}
}

// mount is a subrouter of the app, at prefix.
type mount struct {
	prefix string
	routes chi.Routes
}

// collect adds to m the subrouters of rs, whose patterns start with prefix,
// under the patterns of their stubs: the prefix with and without a slash.
func collect(prefix string, rs chi.Routes, m map[string]mount) {
	routes := rs.Routes()
	for _, rt := range routes {
		if rt.SubRoutes != nil {
			p := prefix + strings.TrimSuffix(rt.Pattern, "/*")
			m[p], m[p+"/"] = mount{p, rt.SubRoutes}, mount{p, rt.SubRoutes}
			collect(p, rt.SubRoutes, m)
		}
	}
	for _, rt := range routes {
		if rt.SubRoutes == nil {
			delete(m, prefix+rt.Pattern) // a route of its own, not a stub
		}
	}
}

// Patterns lists the routes of mux as "METHOD /template"
// (guard.Patterns), for openapi.Check.
func Patterns(mux chi.Routes) []string {
	var rs [][2]string
	_ = chi.Walk(mux, func(m, p string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		rs = append(rs, [2]string{m, p})
		return nil
	})
	return guard.Patterns(rs, func(r [2]string) (string, string) { return r[0], r[1] })
}
