// Package doors is the test kit that runs one app through every front door
// of apiguard: a [Door] builds, from one framework-neutral [Spec], the app
// its framework would serve. The conformance suite and the guards' behaviour
// tables iterate over [All], so a new door is one line there and one file
// here. Only tests import it.
package doors

import (
	"log/slog"
	"net/http"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
)

// Door is one front door.
type Door struct {
	// Name is the door's name as the reference server's -framework flag
	// spells it: echo4, echo5, gin, nethttp, chi.
	Name string

	// New builds the app of s on this door.
	New func(tb testing.TB, s Spec) http.Handler
}

// HandlerFunc is a framework-neutral handler: it writes its answer on w
// or returns an error for the door's renderer. Param reads a path
// parameter as the door sees it.
type HandlerFunc func(w http.ResponseWriter, r *http.Request, p Params) error

// Params reads the path parameters of the request on its door.
type Params interface{ Param(name string) string }

// Route is one route of an app: Method and Path in the canonical spelling
// ("/v1/models/{id}"; each door registers it in its own), the route's
// guards, and its handler.
type Route struct {
	Method  string
	Path    string
	Guards  []guard.Guard
	Handler HandlerFunc
}

// Spec is an app: the renderer's configuration, the request-level guards
// every request runs before routing, guards on a group of every route
// (Group, e.g. auth and a rate limit on /v1, which the door mounts so that
// they also see unknown paths under it: they must answer 404 first), and the
// routes.
type Spec struct {
	Errors errorsx.HandlerConfig
	Use    []guard.Guard
	// GroupPrefix and Group: guards on a group of routes (Echo's Group, gin's
	// Group, chi's Route, a ServeMux subtree), registered so that they run
	// for unknown paths under the prefix too.
	GroupPrefix string
	Group       []guard.Guard
	Routes      []Route
}

// OneRoute builds, on door d, the app of one route: method and path served
// by h behind guards, errors rendered with logs discarded, no request-level
// guards. The guards' behaviour tables use it.
func OneRoute(tb testing.TB, d Door, method, path string, h func(w http.ResponseWriter, r *http.Request) error, guards ...guard.Guard) http.Handler {
	return d.New(tb, Spec{
		Errors: errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)},
		Routes: []Route{{Method: method, Path: path, Guards: guards,
			Handler: func(w http.ResponseWriter, r *http.Request, _ Params) error { return h(w, r) }}},
	})
}

// All is every front door, in the order of the reference server's
// -framework flag.
func All() []Door { return []Door{Echo4, Echo5, Gin, NetHTTP, Chi} }

// Run runs f once per door, as a subtest named for the door. It fails the
// test when no door is listed or a listed door is not built, so a table
// never passes by running nowhere.
func Run(t *testing.T, f func(t *testing.T, d Door)) {
	t.Helper()
	doors := All()
	if len(doors) == 0 {
		t.Fatal("doors: no front door is listed: the table would run nowhere")
	}
	for _, d := range doors {
		if d.New == nil {
			t.Fatalf("doors: door %s is listed but not built (its New is nil)", d.Name)
		}
		t.Run(d.Name, func(t *testing.T) { f(t, d) })
	}
}
