// Package bind reads a request's JSON body into a typed value, validates it
// with go-playground/validator and the model rules of the route, and maps
// every failure onto the catalogue (400 invalid_request naming the field,
// 404 not_found for an unknown model, 422 model_input_invalid for a rule).
//
// It imports no web framework: the front doors (middleware for Echo v4,
// echo5, nethttp) run it and hand its errors to the one renderer.
package bind
