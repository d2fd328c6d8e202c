// Package errorsx is apiguard's error catalogue and its one renderer. It
// imports no web framework and no validator: every front door (Echo v4's
// echo4.ErrorHandler, and plain net/http code) hands it an error and
// an http.ResponseWriter, so the same request gets the same bytes on each.
//
// The catalogue is the contract's table: eleven (status, code) rows, each
// with a type, a retryability and a default message a person understands
// (see [Rows]). An [*Error] is one of those rows plus an optional custom
// message, the request field at fault (param), a Retry-After wait, and a
// private cause that is logged and never sent. Errors are immutable; the
// With methods return copies, so constructors' results may be shared.
//
// [From] maps any error onto a row ([FromStatus] maps a framework's own
// status), and the [Renderer] writes it as
//
//	{"error":{"type":"invalid_request_error","code":"invalid_request","message":"prompt is required","param":"prompt"}}
//
// with X-Request-Id, X-Should-Retry, Retry-After (429 and 503 always; the other
// retryable rows when a wait is known) and WWW-Authenticate (401). Errors
// that are not an *Error become 500 internal_error with a fixed message;
// the real error goes to log/slog with the request id, once per failed
// request. Clients whose Accept explicitly prefers application/problem+json
// can get RFC 9457 problem documents instead, when the app turns that on.
// [OpenAPI] describes every row as OpenAPI 3.1 components.
//
// Wiring with Echo v4:
//
//	e := echo.New()
//	e.HTTPErrorHandler = echo4.ErrorHandler(errorsx.HandlerConfig{Logger: logger})
//
// with net/http:
//
//	render := errorsx.NewRenderer(errorsx.HandlerConfig{Logger: logger})
//	render.Write(w, r, r.Pattern, err)
//
// and in handlers:
//
//	return errorsx.NotFound().WithParam("model").WithMessage("model clipia-x does not exist")
package errorsx
