// Package nethttp is apiguard's net/http front door: every guard as a
// standard func(http.Handler) http.Handler middleware, and an error writer,
// usable with http.ServeMux (Go 1.22+ patterns), chi, or anything that takes
// an http.Handler. It imports no web framework, and a request answers with
// the same status, headers and bytes here as on the Echo front doors
// (packages middleware and echo5).
//
// [Handler] is the front handler around the app's router: it installs the
// renderer (errorsx.Renderer) for the request, gives it its id, recovers
// panics, answers unknown routes and wrong methods 404 not_found before
// anything runs, and answers HEAD as GET without a body:
//
//	mux := http.NewServeMux()
//	mux.Handle("GET /v1/models/{id}", nethttp.HandlerFunc(getModel))
//	h := nethttp.Must(nethttp.Handler(mux, nethttp.Config{Errors: errorsx.HandlerConfig{Logger: logger}}))
//	http.ListenAndServe(":8080", h)
//
// Guards cannot return errors, so they write them with [Error], which
// renders once through the request's renderer; handlers may return them
// from a [HandlerFunc]. With a router that is not a ServeMux (chi), install
// [NotFound] and [MethodNotAllowed] as its handlers for unknown routes.
package nethttp
