package errorsx

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/go-playground/validator/v10"
	"github.com/labstack/echo/v4"
)

// From maps any error onto the catalogue. It is the one mapping the renderer
// uses, exported so that middlewares and tests can ask "what would the client
// see" without rendering:
//
//   - an *Error anywhere in the chain (errors.As) is returned as is;
//   - a *json.SyntaxError, *json.UnmarshalTypeError, *http.MaxBytesError or
//     validator.ValidationErrors becomes 400 invalid_request with a message
//     about the client's own input (and param where one field is at fault),
//     unless an *echo.HTTPError around it says the failure was the server's;
//   - an *echo.HTTPError is mapped by status: 404 and 405 → not_found,
//     401 → invalid_api_key, 403 → insufficient_scope,
//     429 → rate_limit_exceeded, 503 → service_unavailable, any other 4xx →
//     invalid_request, anything else → internal_error; Echo's message is
//     replaced by ours;
//   - context.DeadlineExceeded and context.Canceled become 503
//     service_unavailable;
//   - anything else becomes 500 internal_error with the fixed message.
//
// The original error is kept as the cause for the log. From(nil) is nil.
func From(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var he *echo.HTTPError
	isHTTP := errors.As(err, &he)
	if !isHTTP || (he.Code >= 400 && he.Code < 500) {
		if ie := fromInput(err, isHTTP); ie != nil {
			return ie
		}
	}
	if isHTTP {
		return fromHTTPStatus(he.Code).WithCause(err)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return ServiceUnavailable().
			WithMessage("The request took too long to complete. Please retry.").
			WithCause(err)
	case errors.Is(err, context.Canceled):
		return ServiceUnavailable().
			WithMessage("The request was cancelled before it completed.").
			WithCause(err)
	}
	return Internal().WithCause(err)
}

// fromInput maps the errors that describe the client's own input. A bare
// io.ErrUnexpectedEOF is only the body's fault when a 4xx echo.HTTPError (as
// from c.Bind) says so; elsewhere it may come from an upstream read.
func fromInput(err error, in4xx bool) *Error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mb  *http.MaxBytesError
		ve  validator.ValidationErrors
	)
	switch {
	case errors.As(err, &ve):
		return FromValidationErrors(ve)
	case errors.As(err, &mb):
		return InvalidRequest().
			WithMessage("request body is larger than " + strconv.FormatInt(mb.Limit, 10) + " bytes").
			WithCause(err)
	case errors.As(err, &syn):
		return InvalidRequest().
			WithMessage("body is not valid JSON: " + syn.Error() + " at byte " + strconv.FormatInt(syn.Offset, 10)).
			WithCause(err)
	case errors.As(err, &typ):
		return FromUnmarshalTypeError(typ)
	case in4xx && errors.Is(err, io.ErrUnexpectedEOF):
		return InvalidRequest().WithMessage("body is not valid JSON: unexpected end of input").WithCause(err)
	}
	return nil
}

// FromUnmarshalTypeError describes a JSON value of the wrong type for a
// field: 400 invalid_request, param the field's JSON path, and a message such
// as "duration must be an integer".
func FromUnmarshalTypeError(e *json.UnmarshalTypeError) *Error {
	field := e.Field
	out := InvalidRequest().WithCause(e)
	if field == "" {
		return out.WithMessage("body must be " + kindWords(e.Type.Kind().String()))
	}
	return out.WithParam(field).WithMessage(field + " must be " + kindWords(e.Type.Kind().String()))
}

func kindWords(kind string) string {
	switch kind {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return "a value of another type"
}

// echoMessages are the client messages for Echo's own statuses, replacing
// Echo's texts.
var echoMessages = map[int]string{
	http.StatusNotFound:              "The requested resource was not found.",
	http.StatusMethodNotAllowed:      "The requested resource was not found.",
	http.StatusRequestEntityTooLarge: "The request body is too large.",
	http.StatusUnsupportedMediaType:  "Unsupported Content-Type. Send application/json.",
	http.StatusBadRequest:            "The request is invalid. Check the body and parameters.",
}

func fromHTTPStatus(status int) *Error {
	var e *Error
	switch {
	case status == http.StatusNotFound, status == http.StatusMethodNotAllowed:
		e = NotFound()
	case status == http.StatusUnauthorized:
		return InvalidAPIKey()
	case status == http.StatusForbidden:
		return InsufficientScope()
	case status == http.StatusTooManyRequests:
		return RateLimitExceeded()
	case status == http.StatusServiceUnavailable:
		return ServiceUnavailable()
	case status >= 400 && status < 500:
		e = InvalidRequest()
	default:
		return Internal()
	}
	if m, ok := echoMessages[status]; ok {
		e = e.WithMessage(m)
	}
	return e
}
