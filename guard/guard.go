package guard

import (
	"net/http"
	"sync"

	"github.com/clipia/apiguard/errorsx"
)

// Guard is one step of a request's guard chain. Serve either answers the
// request itself by returning an error (nothing written: the door renders
// it) or passes it on with c.Next, possibly with another writer or request
// (a request whose context carries the caller, a writer that records the
// response), and returns what Next returned.
//
// Serve runs only for a request that matched a route, unless the guard is
// one of this package's request-level guards: a [Chain] answers an
// unmatched request 404 not_found first.
type Guard interface {
	Serve(w http.ResponseWriter, r *http.Request, c Call) error
}

// Func is a function that is a [Guard].
type Func func(w http.ResponseWriter, r *http.Request, c Call) error

// Serve calls f.
func (f Func) Serve(w http.ResponseWriter, r *http.Request, c Call) error { return f(w, r, c) }

// Call is a front door's view of one request, as a guard needs it. Doors
// implement it over their framework's context; a Call is valid only while
// the Serve it was given to runs.
type Call interface {
	// Route returns the route that the request matched, in the canonical
	// spelling of [Template] ("/v1/generations/{id}"), or "" when the
	// request matched no route of the app (a wrong method on a known path
	// included).
	Route() string

	// Param returns the value of the route's path parameter name, or "".
	Param(name string) string

	// Next runs the rest of the chain (the next guard, at last the handler)
	// with w and r, and returns its error. The door makes its framework's
	// context use w and r while the rest runs, and restores its own after.
	Next(w http.ResponseWriter, r *http.Request) error

	// Render renders err on w now, through the app's one renderer, as the
	// answer to r. The guard then returns errorsx.Rendered(err).
	Render(w http.ResponseWriter, r *http.Request, err error)
}

// ErrNotFound is what a [Chain] answers a request that matched no route
// with: the 404 not_found row.
var ErrNotFound = errorsx.NotFound()

// everyRequest marks the request-level guards of this package, which run
// for unmatched requests too.
type everyRequest interface {
	Guard
	everyRequest()
}

// Chain returns one Guard that runs gs in order; a nil element is skipped.
// Before the first guard that acts on a route (every guard but this
// package's [RequestID], [Recover] and [HeaderLimit]), a request that
// matched no route (Call.Route() == "") is answered with [ErrNotFound]: an
// unknown route needs no key, spends no token and claims nothing, whoever
// sees it first. Chain of one guard returns it wrapped the same way. The
// chain allocates nothing per request.
func Chain(gs ...Guard) Guard {
	c := &chain{}
	for _, g := range gs {
		if g == nil {
			continue
		}
		if inner, ok := g.(*chain); ok {
			c.gs = append(c.gs, inner.gs...)
			c.every = append(c.every, inner.every...)
			continue
		}
		_, every := g.(everyRequest)
		c.gs = append(c.gs, g)
		c.every = append(c.every, every)
	}
	return c
}

type chain struct {
	gs    []Guard
	every []bool // gs[i] runs for unmatched requests too
}

// Serve runs the chain for one request.
func (c *chain) Serve(w http.ResponseWriter, r *http.Request, call Call) error {
	switch len(c.gs) {
	case 0:
		return call.Next(w, r)
	case 1:
		if !c.every[0] && call.Route() == "" {
			return ErrNotFound
		}
		return c.gs[0].Serve(w, r, call)
	}
	s := steps.Get().(*step)
	s.Call, s.c, s.i = call, c, 0
	err := s.Next(w, r)
	*s = step{}
	steps.Put(s)
	return err
}

// step is the Call a chain hands its guards: Next runs the next guard.
type step struct {
	Call
	c *chain
	i int
}

var steps = sync.Pool{New: func() any { return new(step) }}

// Next runs the next guard of the chain, then the door's next.
func (s *step) Next(w http.ResponseWriter, r *http.Request) error {
	i := s.i
	if i >= len(s.c.gs) {
		return s.Call.Next(w, r)
	}
	s.i++
	if !s.c.every[i] && s.Call.Route() == "" {
		return ErrNotFound
	}
	return s.c.gs[i].Serve(w, r, s)
}

// Must returns v, or panics when err is not nil: for program setup in
// main, around a constructor whose configuration can be wrong.
//
//	authn := guard.Must(auth.New(auth.Config{Store: keys}))
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
