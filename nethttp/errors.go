package nethttp

import (
	"net/http"

	"github.com/clipia/apiguard/errorsx"
)

// defaultRenderer renders for requests that did not pass through Handler.
var defaultRenderer = errorsx.NewRenderer(errorsx.HandlerConfig{})

// Error writes err to w as the one envelope (errorsx.Renderer), with the
// renderer that Handler installed for the request, else a default one.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	if err == nil || errorsx.IsRendered(err) {
		return
	}
	defaultRenderer.Write(w, r, route(r), errorsx.From(err))
}

// route is the route pattern of r as guards report it: the ServeMux pattern
// when the request was routed, else the path.
func route(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return r.URL.Path
}

// Must returns v, or panics with err: for constructors called in main.
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
