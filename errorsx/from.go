package errorsx

import (
	"context"
	"encoding"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/clipia/apiguard/internal/validmap"
)

// From maps any error onto the catalogue. It is the one mapping the renderer
// uses, exported so that middlewares and tests can ask "what would the client
// see" without rendering:
//
//   - an *Error anywhere in the chain (errors.As) is returned as is;
//   - a *json.SyntaxError, *json.UnmarshalTypeError or *http.MaxBytesError
//     becomes 400 invalid_request with a message about the client's own
//     input (and param where one field is at fault);
//   - context.DeadlineExceeded and context.Canceled become 503
//     service_unavailable;
//   - anything else becomes 500 internal_error with the fixed message.
//
// An error with a StatusCode() int method in the chain ([StatusCoder]: Echo
// v5's and gin's errors, http.MaxBytesError's kin in many libraries) maps
// by that status with [FromStatus]; when it directly wraps another
// StatusCoder, the inner one decides. go-playground/validator errors become
// the 400 of bind.FromValidationErrors when the program imports package
// bind. Echo v4's *HTTPError, which has no StatusCode method, is mapped by
// echo4.ErrorHandler with FromStatus; errorsx imports no framework.
//
// The original error is kept as the cause for the log. From(nil) is nil.
// From never panics: an error whose Is, As, Unwrap or Error method panics
// (for instance a typed nil pointer in the chain) becomes 500
// internal_error, the panic recorded in the cause.
func From(err error) (mapped *Error) {
	if err == nil {
		return nil
	}
	defer func() {
		if v := recover(); v != nil {
			mapped = &Error{row: &rows[rowInternal], cause: &panicError{value: v, err: err}}
		}
	}()
	if x, ok := err.(StatusCoder); ok && errors.Unwrap(err) == nil {
		if _, own := err.(*Error); !own {
			// A framework's own bare error (the router's 404 and 405): no
			// chain to walk, the hot path of an unknown-route flood.
			return FromStatus(x.StatusCode(), "", err)
		}
	}
	return from(err)
}

// FromStatus maps an error that a web framework (or an http.Handler)
// answered with an HTTP status onto the catalogue: 404 and 405 →
// not_found, 401 → invalid_api_key, 403 → insufficient_scope, 429 →
// rate_limit_exceeded, 503 → service_unavailable, any other 4xx →
// invalid_request, anything else → internal_error, with the row's message
// (413 and 415 have messages of their own), never the framework's text.
// A 4xx whose err describes the client's own input (a JSON syntax or type
// error, a body over a limit, a body that ended early) maps as From maps
// that input. field, when not empty, names the parameter at fault of a 400
// ("field is not valid"). An *Error in err's chain wins over the status.
// err is kept as the cause. FromStatus never panics.
func FromStatus(status int, field string, err error) (mapped *Error) {
	defer func() {
		if v := recover(); v != nil {
			mapped = &Error{row: &rows[rowInternal], cause: &panicError{value: v, err: err}}
		}
	}()
	if err != nil && !bareStatusError(err) {
		if x, ok := err.(*Error); ok && x != nil && x.row != nil {
			return x
		}
		t := targetsPool.Get().(*asTargets)
		defer t.release()
		if errors.As(err, &t.e) {
			return from(err)
		}
		if status >= 400 && status < 500 {
			if ie := fromInput(err, true, t); ie != nil {
				return ie
			}
		}
	}
	e := fromHTTPStatus(status, err)
	if field != "" && e.row == &rows[rowInvalidRequest] {
		e.param = field
		e.message = field + " is not valid"
	}
	return e
}

// StatusCoder is an error that carries the HTTP status it answers with, as
// Echo v5's errors do (its *HTTPError, its ErrNotFound-style sentinels, its
// *BindingError) and as many libraries' errors do. [From] maps it by that
// status.
type StatusCoder interface {
	error
	StatusCode() int
}

// bareStatusError reports whether err is alone (it wraps nothing) and is
// none of the errors that map by themselves: then only the status counts,
// and FromStatus skips walking a chain (a framework's own 404 or 405, the
// hot path of an unknown-route flood).
func bareStatusError(err error) bool {
	switch err.(type) {
	case *Error, *json.SyntaxError, *json.UnmarshalTypeError, *http.MaxBytesError, interface{ Unwrap() []error }:
		return false
	}
	return err != io.ErrUnexpectedEOF && errors.Unwrap(err) == nil
}

func from(err error) *Error {
	// Fast path, without walking a chain.
	if x, ok := err.(*Error); ok && x != nil && x.row != nil {
		return x
	}

	// The targets of errors.As come from a pool: a local variable whose
	// address is passed to errors.As escapes, one allocation per call.
	t := targetsPool.Get().(*asTargets)
	defer t.release()

	if errors.As(err, &t.e) {
		e := t.e
		if e == nil {
			// A typed nil *Error in the chain: nothing to render but the
			// fallback.
			return &Error{row: &rows[rowInternal], cause: err}
		}
		if e.row == nil {
			c := e.clone()
			return &c
		}
		return e
	}
	if errors.As(err, &t.sc) && t.sc != nil {
		sc := t.sc
		if u, ok := sc.(interface{ Unwrap() error }); ok {
			if in, ok := u.Unwrap().(StatusCoder); ok && in != nil {
				sc = in // a 413 inside a binder's 400 decides
			}
		}
		return FromStatus(sc.StatusCode(), "", err)
	}
	if ie := fromInput(err, false, t); ie != nil {
		return ie
	}
	if v, ok := validmap.Map(err).(*Error); ok && v != nil {
		return v
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{row: &rows[rowServiceUnavailable],
			message: "The request took too long to complete. Please retry.", cause: err}
	case errors.Is(err, context.Canceled):
		return &Error{row: &rows[rowServiceUnavailable],
			message: "The request was cancelled before it completed.", cause: err}
	}
	return &Error{row: &rows[rowInternal], cause: err}
}

// asTargets holds the errors.As targets of one [From] call.
type asTargets struct {
	e   *Error
	sc  StatusCoder
	syn *json.SyntaxError
	typ *json.UnmarshalTypeError
	mb  *http.MaxBytesError
}

var targetsPool = sync.Pool{New: func() any { return new(asTargets) }}

// release clears t, so the pool keeps no error alive, and returns it.
func (t *asTargets) release() {
	*t = asTargets{}
	targetsPool.Put(t)
}

// fromInput maps the errors that describe the client's own input. A bare
// io.ErrUnexpectedEOF is only the body's fault when a 4xx status (as a
// framework's bind error carries) says so; elsewhere it may come from an
// upstream read. Typed
// nil pointers in the chain are ignored.
//
// The messages are the API's own words: where the input is wrong (a byte
// offset, a field) and what was expected, never encoding/json's text.
func fromInput(err error, in4xx bool, t *asTargets) *Error {
	switch {
	case errors.As(err, &t.mb) && t.mb != nil:
		return &Error{row: &rows[rowInvalidRequest],
			message: "request body is larger than " + strconv.FormatInt(t.mb.Limit, 10) + " bytes", cause: err}
	case errors.As(err, &t.syn) && t.syn != nil:
		return &Error{row: &rows[rowInvalidRequest], message: syntaxMessage(t.syn), cause: err}
	case errors.As(err, &t.typ) && t.typ != nil:
		return FromUnmarshalTypeError(t.typ)
	case in4xx && errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{row: &rows[rowInvalidRequest],
			message: "body is not valid JSON: unexpected end of input", cause: err}
	}
	return nil
}

// syntaxMessage words a *json.SyntaxError for the client: what is wrong and
// at which byte (1-based, as encoding/json counts). The kind of error is
// read from encoding/json's text, which is never shown; text it does not
// recognise still yields "body is not valid JSON at byte N".
func syntaxMessage(e *json.SyntaxError) string {
	at := ""
	if e.Offset > 0 {
		at = " at byte " + strconv.FormatInt(e.Offset, 10)
	}
	msg := e.Error()
	switch {
	case msg == "unexpected end of JSON input":
		return "body is not valid JSON: unexpected end of input" + at
	case strings.HasSuffix(msg, " after top-level value"):
		return "body is not valid JSON: unexpected data after the JSON value" + at
	case strings.HasSuffix(msg, " exceeded max depth"):
		return "body is nested too deeply" + at
	}
	if c, ok := invalidCharacter(msg); ok {
		return "body is not valid JSON: unexpected character " + c + at
	}
	return "body is not valid JSON" + at
}

// invalidCharacter returns the quoted character of encoding/json's
// "invalid character 'x' ..." errors, requoted as strconv.QuoteRune does.
// encoding/json quotes one byte as if it were a rune, so a byte from 0x80
// up (part of a UTF-8 sequence, or not UTF-8 at all) is shown as '\xNN'.
func invalidCharacter(msg string) (string, bool) {
	rest, ok := strings.CutPrefix(msg, "invalid character '")
	if !ok {
		return "", false
	}
	// The quoted text is one character, possibly escaped ('\'', '\n',
	// '\x00', '\u00e9'); it ends at the first quote after its first rune.
	_, size := utf8.DecodeRuneInString(rest)
	if strings.HasPrefix(rest, `\'`) {
		size = 2
	}
	end := strings.IndexByte(rest[min(size, len(rest)):], '\'')
	if end < 0 {
		return "", false
	}
	r, _, tail, err := strconv.UnquoteChar(rest[:size+end], '\'')
	if err != nil || tail != "" {
		return "", false
	}
	if r >= utf8.RuneSelf && r <= 0xFF {
		return `'\x` + strconv.FormatInt(int64(r), 16) + `'`, true
	}
	return strconv.QuoteRune(r), true
}

// FromUnmarshalTypeError describes a JSON value of the wrong type for a
// field: 400 invalid_request, param the field's JSON path, and a message such
// as "duration must be an integer". A number out of the range of an integer
// field says so: "duration must be at most 127", "duration must not be
// negative" (an unsigned field). The client's value is never echoed.
//
// A nil e, or one without a Type, still yields a 400 with a generic message.
func FromUnmarshalTypeError(e *json.UnmarshalTypeError) *Error {
	if e == nil {
		return InvalidRequest()
	}
	name := e.Field
	out := &Error{row: &rows[rowInvalidRequest], param: e.Field, cause: e}
	if name == "" {
		name = "body"
	}
	out.message = name + " " + typeWords(e)
	return out
}

// typeWords says what a value of type e.Type must be, given the JSON value
// e.Value that did not fit ("must be an integer", "must be at most 255").
func typeWords(e *json.UnmarshalTypeError) string {
	if e.Type == nil {
		return "must be " + kindWords("")
	}
	t := e.Type
	if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(textUnmarshalerType) {
		// encoding/json decodes a string into a TextUnmarshaler.
		return "must be a string"
	}
	lit, isNumber := strings.CutPrefix(e.Value, "number ")
	if isNumber && (t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64) {
		return "is out of range" // the only number a float field rejects
	}
	if isNumber && isIntegerLiteral(lit) {
		neg := lit[0] == '-'
		switch k := t.Kind(); {
		case k >= reflect.Uint && k <= reflect.Uint64:
			if neg {
				return "must not be negative"
			}
			return "must be at most " + strconv.FormatUint(math.MaxUint64>>(64-t.Bits()), 10)
		case k >= reflect.Int && k <= reflect.Int64:
			if neg {
				return "must be at least " + strconv.FormatInt(math.MinInt64>>(64-t.Bits()), 10)
			}
			return "must be at most " + strconv.FormatInt(math.MaxInt64>>(64-t.Bits()), 10)
		}
	}
	return "must be " + kindWords(t.Kind().String())
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// isIntegerLiteral reports whether s is a JSON integer: an optional minus
// and digits only. encoding/json reports such a value for an integer field
// only when it is out of the field's range.
func isIntegerLiteral(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
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

// fromHTTPStatus maps an HTTP status onto the catalogue, with our message
// instead of a framework's and err as the cause, in one allocation.
func fromHTTPStatus(status int, err error) *Error {
	var i int
	switch {
	case status == http.StatusNotFound, status == http.StatusMethodNotAllowed:
		i = rowNotFound
	case status == http.StatusUnauthorized:
		i = rowInvalidAPIKey
	case status == http.StatusForbidden:
		i = rowInsufficientScope
	case status == http.StatusTooManyRequests:
		i = rowRateLimitExceeded
	case status == http.StatusServiceUnavailable:
		i = rowServiceUnavailable
	case status >= 400 && status < 500:
		i = rowInvalidRequest
	default:
		i = rowInternal
	}
	return &Error{row: &rows[i], message: echoMessage(status), cause: err}
}

// echoMessage is the client message for a framework's own status (Echo's,
// net/http's), replacing its text, or "" for the row's default message.
func echoMessage(status int) string {
	switch status {
	case http.StatusRequestEntityTooLarge:
		return "The request body is too large."
	case http.StatusUnsupportedMediaType:
		return "Unsupported Content-Type. Send application/json."
	}
	return ""
}
