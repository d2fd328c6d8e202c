package app

import (
	"net/http"

	"github.com/clipia/apiguard/middleware/chi5"
	"github.com/clipia/apiguard/middleware/nethttp"
	"github.com/go-chi/chi/v5"
)

// frontChi mounts the app's guards and handlers on chi, through the
// net/http door (middleware/nethttp) with chi's routes (middleware/chi5).
func frontChi(st *stack, h *handlers) (http.Handler, []string) {
	mux := chi.NewRouter()
	mux.NotFound(nethttp.NotFound)
	mux.MethodNotAllowed(nethttp.NotFound)
	handle := func(fn handlerFunc) http.Handler { return serveHTTP(fn, chi.URLParam) }

	mux.With(nethttp.Use(st.open...)).Method(http.MethodGet, "/healthz", handle(h.healthz))
	mux.With(nethttp.Use(st.open...)).Method(http.MethodGet, metricsPath, handle(h.serveMetrics))
	mux.With(nethttp.Use(st.open...)).Method(http.MethodGet, openAPIPath, handle(h.openAPI))
	mux.Route("/v1", func(v1 chi.Router) {
		v1.Use(nethttp.Use(st.v1...))
		v1.With(nethttp.Use(st.modelsRead...)).Method(http.MethodGet, "/models", handle(h.listModels))
		v1.With(nethttp.Use(st.modelsRead...)).Method(http.MethodGet, "/models/{id}", handle(h.getModel))
		v1.With(nethttp.Use(st.createGeneration...)).Method(http.MethodPost, "/generations", handle(h.createGeneration))
		v1.With(nethttp.Use(st.generationsRead...)).Method(http.MethodGet, "/generations/{id}", handle(h.getGeneration))
		v1.With(nethttp.Use(st.generationsRead...)).Method(http.MethodGet, "/balance", handle(h.balance))
	})
	return nethttp.Install(mux, nethttp.Config{Errors: st.errors, Use: st.request, Routes: chi5.Routes(mux)}), chi5.Patterns(mux)
}
