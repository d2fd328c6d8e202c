// Package middleware holds apiguard's request-level Echo middlewares: the
// request id and panic recovery that belong to the renderer, API-key
// authentication and per-route scopes (401, 403), and typed binding and
// validation of request bodies (400, 404 for an unknown model, 422).
//
// Every middleware here returns errors; none writes an error response
// itself. Install errorsx.NewHandler as the Echo HTTPErrorHandler so each
// error is rendered as the contract's envelope.
package middleware
