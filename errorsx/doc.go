// Package errorsx is apiguard's error catalogue and its one renderer.
//
// The catalogue is the contract's table: eleven (status, code) rows, each
// with a type, a retryability and a default message a person understands
// (see [Rows]). An [*Error] is one of those rows plus an optional custom
// message, the request field at fault (param), a Retry-After wait, and a
// private cause that is logged and never sent. Errors are immutable; the
// With methods return copies, so constructors' results may be shared.
//
// The renderer, built by [NewHandler], is an echo.HTTPErrorHandler. Every
// error an Echo app produces, from apiguard's middlewares, the app's
// handlers, Echo itself (unknown route, 405, 413, 415) or a recovered panic,
// goes through [From] onto one of the eleven rows and is written as
//
//	{"error":{"type":"invalid_request_error","code":"invalid_request","message":"prompt is required","param":"prompt"}}
//
// with X-Request-Id, X-Should-Retry, Retry-After (429 always; the other
// retryable rows when a wait is known) and WWW-Authenticate (401). Errors that are not an *Error become
// 500 internal_error with a fixed message; the real error goes to log/slog
// with the request id. Clients whose Accept explicitly prefers
// application/problem+json can get RFC 9457 problem documents instead, when
// the app turns that on.
//
// Typical wiring:
//
//	e := echo.New()
//	e.HTTPErrorHandler = errorsx.NewHandler(errorsx.HandlerConfig{Logger: logger})
//	e.Use(middleware.Must(middleware.RequestID(middleware.RequestIDConfig{})), middleware.Must(middleware.Recover(middleware.RecoverConfig{})))
//
// and in handlers:
//
//	return errorsx.NotFound().WithParam("model").WithMessage("model clipia-x does not exist")
package errorsx
