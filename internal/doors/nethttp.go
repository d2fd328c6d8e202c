package doors

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/clipia/apiguard/middleware/nethttp"
)

// NetHTTP is the net/http door on an http.ServeMux (middleware/nethttp).
// The group's guards run on each route under the prefix; an unknown path
// under it matches no pattern, which Install answers 404 before any guard.
var NetHTTP = Door{Name: "nethttp", New: newNetHTTP}

func newNetHTTP(tb testing.TB, s Spec) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.Routes {
		gs := rt.Guards
		if s.GroupPrefix != "" && strings.HasPrefix(rt.Path, s.GroupPrefix) {
			gs = append(slices.Clip(s.Group), rt.Guards...)
		}
		mux.Handle(rt.Method+" "+rt.Path, nethttp.Use(gs...)(handlerOf(rt.Handler)))
	}
	return nethttp.Install(mux, nethttp.Config{Errors: s.Errors, Use: s.Use})
}

// handlerOf adapts a framework-neutral handler to net/http: its path
// parameters are r.PathValue.
func handlerOf(h HandlerFunc) http.Handler {
	return nethttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return h(w, r, (*pathValues)(r))
	})
}

// pathValues reads the path parameters of a request as net/http sets them.
type pathValues http.Request

// Param returns r.PathValue(name).
func (p *pathValues) Param(name string) string { return (*http.Request)(p).PathValue(name) }
