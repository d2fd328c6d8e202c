package echo5

import (
	"github.com/clipia/apiguard/bind"
	"github.com/labstack/echo/v5"
)

// bindContextKey is the echo.Context key under which Bind stores the bound
// value; modelContextKey holds the *bind.Model of the request.
const (
	bindContextKey  = "github.com/clipia/apiguard/echo5.body"
	modelContextKey = "github.com/clipia/apiguard/echo5.model"
)

// Bind returns the Echo v5 middleware of [bind.Binder]: it binds each
// request into a new T (a struct type), validates it and, with
// [bind.Config].Models, checks the model rules, then stores the value for
// the typed getter [Body] (and the model for [ModelFrom]):
//
//	bind, err := echo5.Bind[GenerationRequest](bind.Config{Models: models})
//	e.POST("/v1/generations", create, bind)
//	// in create:
//	req := echo5.Body[GenerationRequest](c)
//
// A request that matched no route is answered 404 not_found first
// ([RouteMatched]). Path parameters (`param:"name"` fields) come from
// c.Param. Every failure is returned, for [ErrorHandler] to render: 400
// invalid_request, 404 not_found for an unknown model, 422
// model_input_invalid, 503 when the registry fails; see [bind.Binder.Bind]
// for the steps and the messages. With [bind.Config].Skip returning true
// nothing is bound and Body returns nil.
//
// Bind returns the error of [bind.New] for a bad T or configuration; it
// never panics. The middleware is safe for concurrent use.
func Bind[T any](cfg bind.Config) (echo.MiddlewareFunc, error) {
	b, err := bind.New[T](cfg)
	if err != nil {
		return nil, err
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			if !RouteMatched(c) {
				return errRouteNotFound
			}
			v, m, err := b.Bind(c.Response(), c.Request(), c.Param)
			if err != nil {
				return err
			}
			if v != nil {
				c.Set(bindContextKey, v)
			}
			if m != nil {
				c.Set(modelContextKey, m)
			}
			return next(c)
		}
	}, nil
}

// Body returns the value that [Bind] bound and validated for this request,
// or nil when no Bind[T] ran before (or it was skipped). Only the innermost
// Bind of a chain is visible. The value belongs to the request; the handler
// may modify it.
func Body[T any](c *echo.Context) *T {
	v, _ := c.Get(bindContextKey).(*T)
	return v
}

// ModelFrom returns the model that [Bind] resolved for this request, or nil
// and false when the route has no model rules. Treat the model as read-only:
// it is shared by every request that names it.
func ModelFrom(c *echo.Context) (*bind.Model, bool) {
	m, ok := c.Get(modelContextKey).(*bind.Model)
	return m, ok && m != nil
}
