package app

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/middleware/nethttp"
)

// frontNetHTTP mounts the app's guards and handlers on net/http's ServeMux
// (middleware/nethttp): each route is its handler behind its guards, the
// /v1 group's first (ServeMux has no groups), and nethttp.Install in front
// of the mux answers unknown routes, odd paths and HEAD, and runs the
// request-level guards.
func frontNetHTTP(st *stack, h *handlers) (http.Handler, []string) {
	mux := http.NewServeMux()
	var patterns []string // ServeMux lists no routes: the patterns registered, for openapi.Check
	route := func(pattern string, fn handlerFunc, gs ...[]guard.Guard) {
		patterns = append(patterns, pattern)
		mux.Handle(pattern, nethttp.Use(slices.Concat(gs...)...)(serveHTTP(fn, pathValue)))
	}

	route("GET /healthz", h.healthz, st.open)
	route("GET "+metricsPath, h.serveMetrics, st.open)
	route("GET "+openAPIPath, h.openAPI, st.open)
	route("GET /v1/models", h.listModels, st.v1, st.modelsRead)
	route("GET /v1/models/{id}", h.getModel, st.v1, st.modelsRead)
	route("POST /v1/generations", h.createGeneration, st.v1, st.createGeneration)
	route("GET /v1/generations/{id}", h.getGeneration, st.v1, st.generationsRead)
	route("GET /v1/balance", h.balance, st.v1, st.generationsRead)
	return nethttp.Install(mux, nethttp.Config{Errors: st.errors, Use: st.request}), patterns
}

// serveHTTP adapts a handler of the app to net/http (ServeMux, chi):
// param reads a path parameter of r, as sent (see pathParam).
func serveHTTP(fn handlerFunc, param func(r *http.Request, name string) string) http.Handler {
	return nethttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return fn(w, call{r: r, param: func(name string) string { return param(r, name) }})
	})
}

// pathValue reads a ServeMux path parameter, which ServeMux hands over
// decoded, re-escaped (see pathParam).
func pathValue(r *http.Request, name string) string { return url.PathEscape(r.PathValue(name)) }
