// Package middleware holds apiguard's request-level Echo middlewares: the
// request id and panic recovery that belong to the renderer, API-key
// authentication and per-route scopes (401, 403), and typed binding and
// validation of request bodies (400, 404 for an unknown model, 422).
//
// Every middleware here returns errors; none writes an error response
// itself. Install [ErrorHandler] as the Echo HTTPErrorHandler so each
// error is rendered as the contract's envelope.
//
// # Binding
//
// [Bind] reads a request into a struct and validates it with
// go-playground/validator tags; each failure is a 400 naming the field in
// the client's terms ("duration must be an integer", "body is not valid
// JSON: unexpected character 'o' at byte 2"), never in encoding/json's
// words. The body is read within [bind.Config].ReadTimeout, so a slow client
// is answered 400 and disconnected rather than holding a handler.
//
// Validator's `required` means "not the zero value". For a number or bool
// that must be sent but may be 0 or false, use a pointer (*int, *bool) with
// `validate:"required"`; on a plain int, `required` rejects 0 ("duration
// must not be 0" when 0 was sent, "duration is required" when the field is
// absent).
package middleware
