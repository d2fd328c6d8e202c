// Package bind reads a request into a typed value, validates it with
// go-playground/validator and the model rules of the route, and maps every
// failure onto the catalogue (400 invalid_request naming the field, 404
// not_found for an unknown model, 422 model_input_invalid for a rule, 503
// when the model registry cannot answer).
//
// It imports no web framework. [New] builds a [Binder] for a request type
// once; [Binder.Bind] binds one *http.Request, taking the router's
// path-parameter lookup (r.PathValue, Echo's c.Param). The front doors run
// it as a middleware and hand its errors to the one renderer:
// a [Binder] is a guard (guard.Guard) every front door mounts with its Use
// (net/http), each with a typed getter Body[T] and ModelFrom.
//
// Each failure is a 400 naming the field in the client's terms ("duration
// must be an integer", "body is not valid JSON: unexpected character 'o' at
// byte 2"), never in encoding/json's words. The body is read within
// [Config].ReadTimeout and [Config].MaxBodyBytes, so a slow or huge body is
// answered 400 rather than holding a handler.
//
// Validator's `required` means "not the zero value". For a number or bool
// that must be sent but may be 0 or false, use a pointer (*int, *bool) with
// `validate:"required"`; on a plain int, `required` rejects 0 ("duration
// must not be 0" when 0 was sent, "duration is required" when the field is
// absent).
//
// Model rules ([Model], [Rule], [MaxInt], [MinInt], [OneOf], [RuleFunc])
// come from a [ModelRegistry] such as [MemoryModels]; they run after the
// value is valid, so every form error (400) is reported before a model
// error.
package bind
