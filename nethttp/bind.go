package nethttp

import (
	"context"
	"net/http"

	"github.com/clipia/apiguard/bind"
)

// boundKey is the context key of the value and model that Bind stored.
type boundKey struct{}

// bound is what Bind stores in the request's context: one value for both.
type bound struct {
	v any
	m *bind.Model
}

// Bind returns the net/http middleware of [bind.Binder]: it binds each
// request into a new T (a struct type), validates it and, with
// [bind.Config].Models, checks the model rules, then passes on the request
// with the value (for the typed getter [Body]) and the model (for
// [ModelFrom]) in its context:
//
//	bind, err := nethttp.Bind[GenerationRequest](bind.Config{Models: models})
//	mux.Handle("POST /v1/generations", bind(http.HandlerFunc(create)))
//	// in create:
//	req := nethttp.Body[GenerationRequest](r)
//
// Path parameters (`param:"name"` fields) come from r.PathValue, so a
// ServeMux pattern ("/projects/{project}") names them. Every failure is
// written with [Error] and the handler is not called: 400 invalid_request,
// 404 not_found for an unknown model, 422 model_input_invalid, 503 when the
// registry fails; see [bind.Binder.Bind] for the steps and the messages.
// With [bind.Config].Skip returning true nothing is bound and Body returns
// nil.
//
// Bind returns the error of [bind.New] for a bad T or configuration; it
// never panics. The middleware is safe for concurrent use.
func Bind[T any](cfg bind.Config) (func(http.Handler) http.Handler, error) {
	b, err := bind.New[T](cfg)
	if err != nil {
		return nil, err
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			v, m, err := b.Bind(w, r, r.PathValue)
			if err != nil {
				Error(w, r, err)
				return
			}
			if v != nil {
				ctx := r.Context()
				if m == nil {
					// As with Echo's c.Set, an outer Bind's model stays visible.
					if outer, _ := ctx.Value(boundKey{}).(*bound); outer != nil {
						m = outer.m
					}
				}
				r = r.WithContext(context.WithValue(ctx, boundKey{}, &bound{v: v, m: m}))
			}
			next.ServeHTTP(w, r)
		})
	}, nil
}

// Body returns the value that [Bind] bound and validated for r, or nil
// when no Bind[T] ran before (or it was skipped). Only the innermost Bind
// of a chain is visible. The value belongs to the request; the handler may
// modify it.
func Body[T any](r *http.Request) *T {
	b, _ := r.Context().Value(boundKey{}).(*bound)
	if b == nil {
		return nil
	}
	v, _ := b.v.(*T)
	return v
}

// ModelFrom returns the model that [Bind] resolved for r, or nil and false
// when the route has no model rules. Treat the model as read-only: it is
// shared by every request that names it.
func ModelFrom(r *http.Request) (*bind.Model, bool) {
	b, _ := r.Context().Value(boundKey{}).(*bound)
	if b == nil || b.m == nil {
		return nil, false
	}
	return b.m, true
}
