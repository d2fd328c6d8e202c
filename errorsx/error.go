package errorsx

import (
	"strconv"
	"time"
)

// Code is the machine-readable reason of an error, the "code" member of the
// envelope. Clients branch on it. Only the eleven codes of the catalogue are
// ever rendered.
type Code string

// The eleven codes of the catalogue, one per row of the contract's table.
const (
	CodeInvalidRequest      Code = "invalid_request"
	CodeInvalidAPIKey       Code = "invalid_api_key"
	CodeInsufficientCredits Code = "insufficient_credits"
	CodeInsufficientScope   Code = "insufficient_scope"
	CodeNotFound            Code = "not_found"
	CodeIdempotencyKeyReuse Code = "idempotency_key_reuse"
	CodeRequestInProgress   Code = "request_in_progress"
	CodeModelInputInvalid   Code = "model_input_invalid"
	CodeRateLimitExceeded   Code = "rate_limit_exceeded"
	CodeInternal            Code = "internal_error"
	CodeServiceUnavailable  Code = "service_unavailable"
)

// Error is an API error: the public half (status, type, code, message, param,
// Retry-After) that is rendered to the client, and a private cause that is
// only logged.
//
// An Error is immutable: the With methods return a modified copy, so values
// returned by the constructors may be shared freely between goroutines. Use a
// constructor such as [NotFound] or [New]; a nil or zero Error behaves as an
// internal_error with the default message, so it never renders off the table.
type Error struct {
	row        *Row
	message    string
	param      string
	retryAfter time.Duration
	cause      error
}

// New returns the catalogue error for code with its default message. An
// unknown code yields an internal_error whose cause records the bad code,
// so a typo never leaks an off-table code to a client.
func New(code Code) *Error {
	r, ok := lookup(code)
	if !ok {
		return &Error{row: &rows[rowInternal], cause: &unknownCodeError{code: code}}
	}
	return &Error{row: r}
}

type unknownCodeError struct{ code Code }

func (e *unknownCodeError) Error() string {
	return "errorsx: unknown code " + strconv.Quote(string(e.code))
}

// InvalidRequest returns a 400 invalid_request error with the default message:
//
//	The request is invalid. Check the body and parameters.
func InvalidRequest() *Error { return &Error{row: &rows[rowInvalidRequest]} }

// InvalidAPIKey returns a 401 invalid_api_key error with the default message:
//
//	The API key is missing, invalid or revoked.
func InvalidAPIKey() *Error { return &Error{row: &rows[rowInvalidAPIKey]} }

// InsufficientCredits returns a 402 insufficient_credits error with the default message:
//
//	Not enough credits for this generation. Please top up your balance.
func InsufficientCredits() *Error { return &Error{row: &rows[rowInsufficientCredits]} }

// InsufficientScope returns a 403 insufficient_scope error with the default message:
//
//	The API key lacks the scope this request needs.
func InsufficientScope() *Error { return &Error{row: &rows[rowInsufficientScope]} }

// NotFound returns a 404 not_found error with the default message:
//
//	The requested resource was not found.
func NotFound() *Error { return &Error{row: &rows[rowNotFound]} }

// IdempotencyKeyReuse returns a 409 idempotency_key_reuse error with the default message:
//
//	This Idempotency-Key was already used with different parameters. Use a new key.
func IdempotencyKeyReuse() *Error { return &Error{row: &rows[rowIdempotencyKeyReuse]} }

// RequestInProgress returns a 409 request_in_progress error with the default message:
//
//	A request with this Idempotency-Key is still being processed. Retry after it finishes.
func RequestInProgress() *Error { return &Error{row: &rows[rowRequestInProgress]} }

// ModelInputInvalid returns a 422 model_input_invalid error with the default message:
//
//	The parameters are not accepted by the chosen model.
func ModelInputInvalid() *Error { return &Error{row: &rows[rowModelInputInvalid]} }

// RateLimitExceeded returns a 429 rate_limit_exceeded error with the default message:
//
//	Rate limit exceeded. Retry after the time given in Retry-After.
//
// Set the wait with [Error.WithRetryAfter]; without it the renderer sends
// Retry-After: 1.
func RateLimitExceeded() *Error { return &Error{row: &rows[rowRateLimitExceeded]} }

// Internal returns a 500 internal_error error with the default message:
//
//	An internal error occurred. Please retry; if it persists, contact support with the request id.
//
// Attach the real error with [Error.WithCause]; it is logged, never sent.
func Internal() *Error { return &Error{row: &rows[rowInternal]} }

// ServiceUnavailable returns a 503 service_unavailable error with the default message:
//
//	The service is temporarily unavailable. Please retry with backoff.
func ServiceUnavailable() *Error { return &Error{row: &rows[rowServiceUnavailable]} }

// rowOf returns the catalogue row of e. A nil or zero Error (one not made by
// a constructor) is an internal_error, so it can never render off the table.
func (e *Error) rowOf() *Row {
	if e == nil || e.row == nil {
		return &rows[rowInternal]
	}
	return e.row
}

// Status returns the HTTP status code.
func (e *Error) Status() int { return e.rowOf().Status }

// Code returns the machine-readable code.
func (e *Error) Code() Code { return e.rowOf().Code }

// Type returns the error type ("invalid_request_error", "api_error", …).
func (e *Error) Type() string { return e.rowOf().Type }

// Message returns the human-readable message sent to the client. Each word
// longer than [MaxEcho] characters is cut to MaxEcho plus "…", and the whole
// to [MaxMessage] plus "…", so client input echoed in it stays small.
func (e *Error) Message() string {
	if e != nil && e.message != "" {
		return clipMessage(e.message)
	}
	return e.rowOf().Message
}

// Param returns the request field at fault, or "" when no single field is.
// A param longer than [MaxEcho] characters is cut to MaxEcho plus "…": it
// may be client input (an unknown field's name).
func (e *Error) Param() string {
	if e == nil {
		return ""
	}
	return clipParam(e.param)
}

// RetryAfter returns the wait attached with [Error.WithRetryAfter], or 0.
func (e *Error) RetryAfter() time.Duration {
	if e == nil {
		return 0
	}
	return e.retryAfter
}

// Retryable reports whether a client may retry the same request, per the
// catalogue: true for request_in_progress, rate_limit_exceeded,
// internal_error and service_unavailable.
func (e *Error) Retryable() bool { return e.rowOf().Retryable }

// Row returns the catalogue row of e.
func (e *Error) Row() Row { return *e.rowOf() }

// Error implements the error interface. It includes the cause, so it is meant
// for logs; clients only ever see [Error.Message].
func (e *Error) Error() string {
	if e == nil {
		return "errorsx: <nil>"
	}
	s := string(e.rowOf().Code) + ": " + e.Message()
	if e.param != "" {
		s += " (param " + e.Param() + ")"
	}
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

// Unwrap returns the cause, so errors.Is and errors.As see through an Error.
func (e *Error) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.cause
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, errorsx.NotFound()) matches any not_found error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && t.rowOf().Code == e.rowOf().Code
}

// WithMessage returns a copy of e with a custom client-facing message. The
// message must be written for people and must not carry internal detail;
// an empty message restores the default. Client input echoed in it is cut
// as [Error.Message] says.
func (e *Error) WithMessage(message string) *Error {
	c := e.clone()
	c.message = message
	return &c
}

// WithParam returns a copy of e naming the request field at fault: the JSON
// name, dotted for nested fields ("input.duration"). It is cut to [MaxEcho]
// characters as [Error.Param] says.
func (e *Error) WithParam(param string) *Error {
	c := e.clone()
	c.param = param
	return &c
}

// WithRetryAfter returns a copy of e that tells the client how long to wait.
// The renderer sends it as Retry-After in whole seconds, rounded up, at
// least 1, on the retryable rows (429, 503, 409 request_in_progress, 500);
// a non-retryable row never carries Retry-After. A zero or negative d
// removes it.
func (e *Error) WithRetryAfter(d time.Duration) *Error {
	c := e.clone()
	if d < 0 {
		d = 0
	}
	c.retryAfter = d
	return &c
}

// WithCause returns a copy of e that carries cause for the log. The cause is
// never rendered.
func (e *Error) WithCause(cause error) *Error {
	c := e.clone()
	c.cause = cause
	return &c
}

// clone returns a copy of e with its row resolved, so that the With methods
// work on a nil or zero Error too (yielding an internal_error).
func (e *Error) clone() Error {
	if e == nil {
		return Error{row: &rows[rowInternal]}
	}
	c := *e
	c.row = e.rowOf()
	return c
}

// RetryAfterSeconds converts a wait into the value of a Retry-After header:
// whole seconds, rounded up, at least 1.
func RetryAfterSeconds(d time.Duration) int64 {
	if d <= time.Second {
		return 1
	}
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return s
}
