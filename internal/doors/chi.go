package doors

import (
	"net/http"
	"strings"
	"testing"

	"github.com/clipia/apiguard/middleware/chi5"
	"github.com/clipia/apiguard/middleware/nethttp"
	"github.com/go-chi/chi/v5"
)

// Chi is the chi door: chi v5 through the net/http door, with chi5.Routes.
// The group is a chi subrouter (r.Route) whose r.Use runs the group's
// guards, as chi users write it.
var Chi = Door{Name: "chi", New: newChi}

func newChi(tb testing.TB, s Spec) http.Handler {
	r := chi.NewRouter()
	r.NotFound(nethttp.NotFound)
	r.MethodNotAllowed(nethttp.NotFound)
	var grouped, rest []Route
	for _, rt := range s.Routes {
		if s.GroupPrefix != "" && strings.HasPrefix(rt.Path, s.GroupPrefix) {
			grouped = append(grouped, rt)
		} else {
			rest = append(rest, rt)
		}
	}
	if s.GroupPrefix != "" {
		r.Route(s.GroupPrefix, func(g chi.Router) {
			g.Use(nethttp.Use(s.Group...))
			for _, rt := range grouped {
				g.With(nethttp.Use(rt.Guards...)).Method(rt.Method, strings.TrimPrefix(rt.Path, s.GroupPrefix), handlerOf(rt.Handler))
			}
		})
	}
	for _, rt := range rest {
		r.With(nethttp.Use(rt.Guards...)).Method(rt.Method, rt.Path, handlerOf(rt.Handler))
	}
	return nethttp.Install(r, nethttp.Config{Errors: s.Errors, Use: s.Use, Routes: chi5.Routes(r)})
}
