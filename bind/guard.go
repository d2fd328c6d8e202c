package bind

import (
	"errors"
	"net/http"

	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/internal/reqctx"
	"github.com/clipia/apiguard/internal/validmap"
	"github.com/go-playground/validator/v10"
)

// boundKey and modelKey are the context keys of what Serve bound: the
// value (a *T) and the model.
type (
	boundKey struct{}
	modelKey struct{}
)

// Serve is the guard of the Binder (a [guard.Guard]): it binds r into a
// new T with the path parameters of c ([Binder.Bind]: 400 invalid_request,
// 404 not_found for an unknown model, 422 model_input_invalid, 503 when the
// registry fails, each returned for the door to render), then runs the rest
// of the chain with a request whose context holds the value, for [Body],
// and the model, for [ModelOf]. With Config.Skip returning true nothing is
// bound and Body returns nil.
func (b *Binder[T]) Serve(w http.ResponseWriter, r *http.Request, c guard.Call) error {
	v, m, err := b.Bind(w, r, c.Param)
	if err != nil {
		return err
	}
	if v != nil {
		r = reqctx.With(r, boundKey{}, v)
		if m != nil {
			// Without one, an outer Binder's model stays visible.
			r = reqctx.With(r, modelKey{}, m)
		}
	}
	return c.Next(w, r)
}

// Body returns the value that a Binder[T] bound and validated for r, or nil
// when none ran before (or it was skipped). Only the innermost Binder of a
// chain is visible. The value belongs to the request; the handler may
// modify it.
//
//	req := bind.Body[GenerationRequest](r) // Echo: c.Request(), gin: c.Request
func Body[T any](r *http.Request) *T {
	v, _ := r.Context().Value(boundKey{}).(*T)
	return v
}

// ModelOf returns the model that a Binder resolved for r, or nil and false
// when the route has no model rules. Treat the model as read-only: it is
// shared by every request that names it.
func ModelOf(r *http.Request) (*Model, bool) {
	m, _ := r.Context().Value(modelKey{}).(*Model)
	return m, m != nil
}

func init() {
	validmap.Set(func(err error) error {
		var ve validator.ValidationErrors
		if errors.As(err, &ve) {
			return FromValidationErrors(ve)
		}
		return nil
	})
}
