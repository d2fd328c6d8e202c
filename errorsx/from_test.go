package errorsx_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/middleware/echo4"
	"github.com/go-playground/validator/v10"
	"github.com/labstack/echo/v4"
)

// wantForEchoStatus is the mapping of an *echo.HTTPError status onto
// the catalogue, written independently of the code under test.
func wantForEchoStatus(status int) errorsx.Code {
	switch {
	case status == 404 || status == 405:
		return errorsx.CodeNotFound
	case status == 401:
		return errorsx.CodeInvalidAPIKey
	case status == 403:
		return errorsx.CodeInsufficientScope
	case status == 429:
		return errorsx.CodeRateLimitExceeded
	case status == 503:
		return errorsx.CodeServiceUnavailable
	case status >= 400 && status <= 499:
		return errorsx.CodeInvalidRequest
	default: // 1xx, 2xx, 3xx and 5xx other than 503
		return errorsx.CodeInternal
	}
}

// echoSecret is a message Echo or an app might put in an *echo.HTTPError; it
// must never reach a client.
const echoSecret = "dial tcp 10.0.0.7:5432: connect: connection refused"

// Every status an *echo.HTTPError can carry, bare and wrapped three ways, both
// through From and through a real Echo with the renderer.
func TestEchoHTTPErrorMapping(t *testing.T) {
	wraps := []struct {
		name string
		wrap func(error) error
	}{
		{"bare", func(err error) error { return err }},
		{"fmt.Errorf", func(err error) error { return fmt.Errorf("handler: %w", err) }},
		{"errors.Join", func(err error) error { return errors.Join(errors.New("first"), err) }},
		{"deep", func(err error) error {
			return fmt.Errorf("a: %w", errors.Join(fmt.Errorf("b: %w", err), io.EOF))
		}},
	}
	for status := 100; status <= 599; status++ {
		want := wantForEchoStatus(status)
		row := rowFor(t, string(want))
		for _, w := range wraps {
			name := fmt.Sprintf("%d/%s", status, w.name)
			he := echo.NewHTTPError(status, echoSecret)
			err := w.wrap(he)

			got := echo4.FromEcho(err)
			if got.Code() != want {
				t.Errorf("%s: From: got %s, want %s", name, got.Code(), want)
				continue
			}
			if !errors.Is(got, he) {
				t.Errorf("%s: From: the echo error is not kept as the cause", name)
			}

			rec := renderErr(t, errorsx.HandlerConfig{}, err)
			env, _, cerr := checkRow(rec)
			if cerr != nil {
				t.Errorf("%s: %v", name, cerr)
				continue
			}
			if rec.Code != row.Status || env.Code != string(want) {
				t.Errorf("%s: got %d %s, want %d %s", name, rec.Code, env.Code, row.Status, want)
			}
			if strings.Contains(rec.Body.String(), "10.0.0.7") || strings.Contains(rec.Body.String(), "connection refused") {
				t.Errorf("%s: Echo's message leaked: %s", name, rec.Body)
			}
		}
	}
}

// bodyLimit behaves as Echo's middleware.BodyLimit: a declared length over the
// limit is answered with Echo's own 413 error, and the body is capped with
// http.MaxBytesReader. (echo/v4/middleware itself is not imported: it would
// pull golang.org/x/time into the root module.)
func bodyLimit(limit int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.ContentLength > limit {
				return echo.ErrStatusRequestEntityTooLarge
			}
			req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
			return next(c)
		}
	}
}

// Echo's own errors, produced by a real Echo: the router (404, 405), the
// binder (415, 400 syntax and type errors), a 413 as BodyLimit returns it,
// and the sentinel errors Echo's KeyAuth and RateLimiter return.
func TestEchoOwnErrorsThroughEcho(t *testing.T) {
	type body struct {
		Duration int `json:"duration"`
	}
	e := echo.New()
	e.HTTPErrorHandler = echo4.ErrorHandler(errorsx.HandlerConfig{Logger: discardLogger()})
	bind := func(c echo.Context) error {
		var b body
		if err := c.Bind(&b); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
	e.GET("/only-get", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	e.POST("/bind", bind)
	e.POST("/limited", bind, bodyLimit(16))
	e.GET("/keyauth", func(c echo.Context) error {
		if c.Request().Header.Get("Authorization") == "" {
			return echo.NewHTTPError(http.StatusBadRequest, "missing key in request header")
		}
		return echo.NewHTTPError(http.StatusUnauthorized, "invalid key").SetInternal(errors.New("key rejected"))
	})
	e.GET("/ratelimited", func(c echo.Context) error { return echo.ErrTooManyRequests })
	e.GET("/query", func(c echo.Context) error {
		if _, err := echo.QueryParam[int](c, "limit"); err != nil {
			return err
		}
		var n int
		if err := echo.QueryParamsBinder(c).Int("n", &n).BindError(); err != nil {
			return fmt.Errorf("listing: %w", err)
		}
		return c.NoContent(http.StatusNoContent)
	})
	e.GET("/items/:id", func(c echo.Context) error {
		var p struct {
			ID int `param:"id"`
		}
		if err := c.Bind(&p); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	})

	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		header      [2]string
		wantStatus  int
		wantCode    errorsx.Code
		wantParam   string
		wantMessage string // substring
	}{
		{name: "unknown route", method: "GET", path: "/nope",
			wantStatus: 404, wantCode: errorsx.CodeNotFound, wantMessage: "not found"},
		{name: "wrong method", method: "DELETE", path: "/only-get",
			wantStatus: 404, wantCode: errorsx.CodeNotFound, wantMessage: "not found"},
		{name: "declared body over the limit (413)", method: "POST", path: "/limited", contentType: "application/json",
			body: `{"duration": 1234567890123}`, wantStatus: 400, wantCode: errorsx.CodeInvalidRequest, wantMessage: "too large"},
		{name: "streamed body over the limit", method: "POST", path: "/limited", contentType: "application/json",
			body: "chunked", wantStatus: 400, wantCode: errorsx.CodeInvalidRequest, wantMessage: "larger than 16 bytes"},
		{name: "unsupported content type (415)", method: "POST", path: "/bind", contentType: "text/plain",
			body: "hello", wantStatus: 400, wantCode: errorsx.CodeInvalidRequest, wantMessage: "Content-Type"},
		{name: "malformed JSON", method: "POST", path: "/bind", contentType: "application/json",
			body: `{"duration": }`, wantStatus: 400, wantCode: errorsx.CodeInvalidRequest, wantMessage: "not valid JSON"},
		{name: "truncated JSON", method: "POST", path: "/bind", contentType: "application/json",
			body: `{"duration": 1`, wantStatus: 400, wantCode: errorsx.CodeInvalidRequest, wantMessage: "not valid JSON"},
		{name: "wrong JSON type", method: "POST", path: "/bind", contentType: "application/json",
			body: `{"duration": "ten"}`, wantStatus: 400, wantCode: errorsx.CodeInvalidRequest,
			wantParam: "duration", wantMessage: "duration must be an integer"},
		{name: "key auth missing key (400)", method: "GET", path: "/keyauth",
			wantStatus: 400, wantCode: errorsx.CodeInvalidRequest},
		{name: "key auth wrong key (401)", method: "GET", path: "/keyauth", header: [2]string{"Authorization", "Bearer bad"},
			wantStatus: 401, wantCode: errorsx.CodeInvalidAPIKey},
		{name: "rate limiter (429)", method: "GET", path: "/ratelimited",
			wantStatus: 429, wantCode: errorsx.CodeRateLimitExceeded},
		{name: "generic query binder", method: "GET", path: "/query?limit=ten",
			wantStatus: 400, wantCode: errorsx.CodeInvalidRequest, wantParam: "limit", wantMessage: "limit is not valid"},
		{name: "fluent query binder, wrapped", method: "GET", path: "/query?limit=1&n=x",
			wantStatus: 400, wantCode: errorsx.CodeInvalidRequest, wantParam: "n", wantMessage: "n is not valid"},
		{name: "path param bind", method: "GET", path: "/items/abc",
			wantStatus: 400, wantCode: errorsx.CodeInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			if tc.body == "chunked" {
				// Unknown length: the limit is only found while reading.
				req = httptest.NewRequest(tc.method, tc.path, io.MultiReader(strings.NewReader(`{"duration": 12345678901234567890`)))
				req.ContentLength = -1
			}
			if tc.contentType != "" {
				req.Header.Set(echo.HeaderContentType, tc.contentType)
			}
			if tc.header[0] != "" {
				req.Header.Set(tc.header[0], tc.header[1])
			}
			rec := serve(e, req)
			env, _, err := checkRow(rec)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Code != tc.wantStatus || env.Code != string(tc.wantCode) {
				t.Errorf("got %d %s, want %d %s (body %s)", rec.Code, env.Code, tc.wantStatus, tc.wantCode, rec.Body)
			}
			if env.Param != tc.wantParam {
				t.Errorf("got param %q, want %q", env.Param, tc.wantParam)
			}
			if !strings.Contains(strings.ToLower(env.Message), strings.ToLower(tc.wantMessage)) {
				t.Errorf("got message %q, want it to contain %q", env.Message, tc.wantMessage)
			}
		})
	}
}

type genReq struct {
	Model  string `json:"model" validate:"required"`
	Prompt string `json:"prompt" validate:"required,max=10"`
	Input  struct {
		Duration int `json:"duration" validate:"min=1,max=60"`
	} `json:"input"`
}

// newValidator returns a validator that names fields by their JSON names,
// as package bind sets it up.
func newValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		return name
	})
	return v
}

func validationErrors(t *testing.T, v any) validator.ValidationErrors {
	t.Helper()
	var ve validator.ValidationErrors
	if !errors.As(newValidator().Struct(v), &ve) {
		t.Fatalf("validating %+v: want validation errors", v)
	}
	return ve
}

func syntaxError(t *testing.T) *json.SyntaxError {
	t.Helper()
	var syn *json.SyntaxError
	if !errors.As(json.Unmarshal([]byte(`{"a":}`), new(any)), &syn) {
		t.Fatal("want a *json.SyntaxError")
	}
	return syn
}

func unmarshalTypeError(t *testing.T, body string) *json.UnmarshalTypeError {
	t.Helper()
	var typ *json.UnmarshalTypeError
	if !errors.As(json.Unmarshal([]byte(body), new(genReq)), &typ) {
		t.Fatalf("want a *json.UnmarshalTypeError from %s", body)
	}
	return typ
}

type panicky struct{}

func (panicky) Error() string { panic("Error panics") }

func TestFrom(t *testing.T) {
	valid := genReq{Model: "m", Prompt: "p"}
	valid.Input.Duration = 5
	tooLong := valid
	tooLong.Prompt = "far too long a prompt"
	badDuration := valid
	badDuration.Input.Duration = 61
	errPlain := errors.New(`pq: syntax error at or near "SELECT" (SQLSTATE 42601)`)

	tests := []struct {
		name        string
		err         error
		wantCode    errorsx.Code
		wantParam   string
		wantMessage string // exact when set
		wantCause   bool   // the original error stays reachable with errors.Is
		wantVE      bool   // the validator errors stay reachable with errors.As
	}{
		{name: "nil", err: nil},
		{name: "errorsx as is", err: errorsx.ModelInputInvalid().WithParam("resolution"),
			wantCode: errorsx.CodeModelInputInvalid, wantParam: "resolution"},
		{name: "errorsx wrapped deep", err: fmt.Errorf("a: %w", errors.Join(io.EOF, fmt.Errorf("b: %w", errorsx.InsufficientCredits()))),
			wantCode: errorsx.CodeInsufficientCredits},
		{name: "errorsx inside echo.HTTPError", err: echo.NewHTTPError(500).SetInternal(errorsx.NotFound()),
			wantCode: errorsx.CodeNotFound},
		{name: "echo.HTTPError inside echo.HTTPError decides, as in Echo", err: echo.NewHTTPError(401).SetInternal(echo.NewHTTPError(403)),
			wantCode: errorsx.CodeInsufficientScope, wantCause: true},
		{name: "validation required", err: validationErrors(t, genReq{Prompt: "p", Input: valid.Input}),
			wantCode: errorsx.CodeInvalidRequest, wantParam: "model", wantMessage: "model is required", wantVE: true},
		{name: "validation max length", err: validationErrors(t, tooLong),
			wantCode: errorsx.CodeInvalidRequest, wantParam: "prompt", wantMessage: "prompt must be at most 10 characters long", wantVE: true},
		{name: "validation nested", err: fmt.Errorf("bind: %w", validationErrors(t, badDuration)),
			wantCode: errorsx.CodeInvalidRequest, wantParam: "input.duration", wantMessage: "input.duration must be at most 60", wantVE: true},
		{name: "empty validation errors", err: validator.ValidationErrors{},
			wantCode: errorsx.CodeInvalidRequest},
		{name: "json syntax error", err: syntaxError(t),
			wantCode: errorsx.CodeInvalidRequest, wantCause: true},
		{name: "json type error", err: unmarshalTypeError(t, `{"model": 7}`),
			wantCode: errorsx.CodeInvalidRequest, wantParam: "model", wantMessage: "model must be a string", wantCause: true},
		{name: "json type error nested", err: unmarshalTypeError(t, `{"input": {"duration": "x"}}`),
			wantCode: errorsx.CodeInvalidRequest, wantParam: "input.duration", wantMessage: "input.duration must be an integer", wantCause: true},
		{name: "json type error at top", err: &json.UnmarshalTypeError{Value: "array", Type: reflect.TypeOf(genReq{})},
			wantCode: errorsx.CodeInvalidRequest, wantMessage: "body must be an object"},
		{name: "json type error without type", err: &json.UnmarshalTypeError{Field: "x"},
			wantCode: errorsx.CodeInvalidRequest, wantParam: "x"},
		{name: "max bytes", err: fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 1024}),
			wantCode: errorsx.CodeInvalidRequest, wantMessage: "request body is larger than 1024 bytes", wantCause: true},
		{name: "json syntax inside echo 500 is the server's", err: echo.NewHTTPError(500).SetInternal(syntaxError(t)),
			wantCode: errorsx.CodeInternal, wantCause: true},
		{name: "unexpected EOF alone is the server's", err: fmt.Errorf("upstream: %w", io.ErrUnexpectedEOF),
			wantCode: errorsx.CodeInternal, wantCause: true},
		{name: "unexpected EOF in echo 400 is the body's", err: echo.NewHTTPError(400).SetInternal(io.ErrUnexpectedEOF),
			wantCode: errorsx.CodeInvalidRequest, wantMessage: "body is not valid JSON: unexpected end of input", wantCause: true},
		{name: "context canceled", err: fmt.Errorf("query: %w", context.Canceled),
			wantCode: errorsx.CodeServiceUnavailable, wantCause: true},
		{name: "deadline exceeded", err: fmt.Errorf("query: %w", context.DeadlineExceeded),
			wantCode: errorsx.CodeServiceUnavailable, wantCause: true},
		{name: "plain error", err: errPlain,
			wantCode: errorsx.CodeInternal, wantMessage: rowFor(t, "internal_error").Message, wantCause: true},
		{name: "typed nil *Error", err: fmt.Errorf("x: %w", (*errorsx.Error)(nil)), wantCode: errorsx.CodeInternal},
		{name: "zero *Error", err: &errorsx.Error{}, wantCode: errorsx.CodeInternal},
		{name: "typed nil *echo.HTTPError", err: fmt.Errorf("x: %w", (*echo.HTTPError)(nil)), wantCode: errorsx.CodeInternal},
		{name: "typed nil *json.SyntaxError", err: fmt.Errorf("x: %w", (*json.SyntaxError)(nil)), wantCode: errorsx.CodeInternal},
		{name: "typed nil *json.UnmarshalTypeError", err: fmt.Errorf("x: %w", (*json.UnmarshalTypeError)(nil)), wantCode: errorsx.CodeInternal},
		{name: "echo.BindingError", err: echo.NewBindingError("limit", []string{"x"}, "query param", errors.New("strconv: bad")),
			wantCode: errorsx.CodeInvalidRequest, wantParam: "limit", wantMessage: "limit is not valid", wantCause: true},
		{name: "typed nil *echo.BindingError", err: fmt.Errorf("x: %w", (*echo.BindingError)(nil)), wantCode: errorsx.CodeInternal},
		{name: "echo.BindingError without HTTPError", err: &echo.BindingError{Field: "f"}, wantCode: errorsx.CodeInternal},
		{name: "typed nil *http.MaxBytesError", err: fmt.Errorf("x: %w", (*http.MaxBytesError)(nil)), wantCode: errorsx.CodeInternal},
		{name: "Error method panics", err: panicky{}, wantCode: errorsx.CodeInternal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := echo4.FromEcho(tc.err)
			if tc.err == nil {
				if got != nil {
					t.Fatalf("From(nil): got %v, want nil", got)
				}
				return
			}
			if got.Code() != tc.wantCode {
				t.Fatalf("got code %s, want %s", got.Code(), tc.wantCode)
			}
			if got.Param() != tc.wantParam {
				t.Errorf("got param %q, want %q", got.Param(), tc.wantParam)
			}
			if tc.wantMessage != "" && got.Message() != tc.wantMessage {
				t.Errorf("got message %q, want %q", got.Message(), tc.wantMessage)
			}
			if got.Message() == "" {
				t.Error("got an empty message")
			}
			if tc.wantCause && !errors.Is(got, tc.err) {
				t.Errorf("the original error is not reachable from %v", got)
			}
			var ve validator.ValidationErrors
			if tc.wantVE && (!errors.As(got, &ve) || len(ve) == 0) {
				t.Errorf("the validation errors are not reachable from %v", got)
			}
			// The renderer must cope with every one of them too.
			rec := renderErr(t, errorsx.HandlerConfig{}, tc.err)
			env, _, err := checkRow(rec)
			if err != nil {
				t.Fatal(err)
			}
			if env.Code != string(tc.wantCode) {
				t.Errorf("rendered code %s, want %s", env.Code, tc.wantCode)
			}
		})
	}
}

// An error whose Is method panics still renders as a 500 envelope, not a
// dropped connection.
type panickyIs struct{}

func (panickyIs) Error() string { return "panicky Is" }
func (panickyIs) Is(error) bool { panic("Is panics") }
func (panickyIs) As(any) bool   { panic("As panics") }

func TestRenderSurvivesPanickingErrorMethods(t *testing.T) {
	logger, logs := testLogger()
	rec := renderErr(t, errorsx.HandlerConfig{Logger: logger}, fmt.Errorf("wrapped: %w", panickyIs{}))
	env, _, err := checkRow(rec)
	if err != nil {
		t.Fatal(err)
	}
	if env.Code != string(errorsx.CodeInternal) {
		t.Errorf("got code %s, want internal_error", env.Code)
	}
	if !strings.Contains(logs.String(), "panicked") {
		t.Errorf("got log %s, want the panic recorded", logs)
	}
}

// syntaxErrorOf is encoding/json's syntax error for body.
func syntaxErrorOf(t *testing.T, body string) *json.SyntaxError {
	t.Helper()
	var syn *json.SyntaxError
	if !errors.As(json.Unmarshal([]byte(body), new(any)), &syn) {
		t.Fatalf("want a *json.SyntaxError from %q", body)
	}
	return syn
}

// typeErrorOf is encoding/json's type error for body decoded into v.
func typeErrorOf(t *testing.T, body string, v any) *json.UnmarshalTypeError {
	t.Helper()
	var typ *json.UnmarshalTypeError
	if !errors.As(json.Unmarshal([]byte(body), v), &typ) {
		t.Fatalf("want a *json.UnmarshalTypeError from %q", body)
	}
	return typ
}

// goDecoderWords are phrases of encoding/json's own error texts that must
// never reach a client.
var goDecoderWords = []string{
	"invalid character", "literal", "looking for beginning", "json: ", "go value", "go struct",
	"unmarshal", "top-level", "of type", "expecting",
}

// From words the client-input errors of encoding/json in the API's terms:
// what is wrong and where (a byte, a field), never the decoder's text.
func TestFromInputMessages(t *testing.T) {
	type ranges struct {
		Small int8       `json:"small"`
		Count uint16     `json:"count"`
		Big   int64      `json:"big"`
		Ratio float32    `json:"ratio"`
		Addr  netip.Addr `json:"addr"`
		On    bool       `json:"on"`
	}
	tests := []struct {
		name        string
		err         error
		wantParam   string
		wantMessage string
	}{
		{"word", syntaxErrorOf(t, `no`), "", "body is not valid JSON: unexpected character 'o' at byte 2"},
		{"value expected", syntaxErrorOf(t, `{"a": x}`), "", "body is not valid JSON: unexpected character 'x' at byte 7"},
		{"quote", syntaxErrorOf(t, `{"a" "b"}`), "", `body is not valid JSON: unexpected character '"' at byte 6`},
		{"apostrophe", syntaxErrorOf(t, `{'a':1}`), "", `body is not valid JSON: unexpected character '\'' at byte 2`},
		{"escape", syntaxErrorOf(t, `{"a":"\q"}`), "", "body is not valid JSON: unexpected character 'q' at byte 8"},
		{"control character", syntaxErrorOf(t, "{\"a\":\"\n\"}"), "", `body is not valid JSON: unexpected character '\n' at byte 7`},
		{"NUL", syntaxErrorOf(t, "\x00"), "", `body is not valid JSON: unexpected character '\x00' at byte 1`},
		// encoding/json sees one byte of a UTF-8 sequence; From, without
		// the body, names the byte.
		{"non-ASCII", syntaxErrorOf(t, `{"a":é}`), "", `body is not valid JSON: unexpected character '\xc3' at byte 6`},
		{"not UTF-8", syntaxErrorOf(t, "\xff"), "", `body is not valid JSON: unexpected character '\xff' at byte 1`},
		{"end of input", syntaxErrorOf(t, `{"a":1`), "", "body is not valid JSON: unexpected end of input at byte 6"},
		{"trailing data", syntaxErrorOf(t, `{} x`), "", "body is not valid JSON: unexpected data after the JSON value at byte 4"},
		{"too deep", syntaxErrorOf(t, strings.Repeat("[", 10001)), "", "body is nested too deeply at byte 10001"},
		{"wrapped by Echo's binder", echo.NewHTTPError(400, "Syntax error").SetInternal(syntaxErrorOf(t, `[1,]`)),
			"", "body is not valid JSON: unexpected character ']' at byte 4"},
		{"int8 over", typeErrorOf(t, `{"small":128}`, new(ranges)), "small", "small must be at most 127"},
		{"int8 under", typeErrorOf(t, `{"small":-129}`, new(ranges)), "small", "small must be at least -128"},
		{"int64 over", typeErrorOf(t, `{"big":9223372036854775808}`, new(ranges)), "big", "big must be at most 9223372036854775807"},
		{"uint16 over", typeErrorOf(t, `{"count":65536}`, new(ranges)), "count", "count must be at most 65535"},
		{"uint negative", typeErrorOf(t, `{"count":-1}`, new(ranges)), "count", "count must not be negative"},
		{"uint fraction", typeErrorOf(t, `{"count":0.5}`, new(ranges)), "count", "count must be an integer"},
		{"float32 over", typeErrorOf(t, `{"ratio":1e39}`, new(ranges)), "ratio", "ratio is out of range"},
		{"text type", typeErrorOf(t, `{"addr":1}`, new(ranges)), "addr", "addr must be a string"},
		{"boolean", typeErrorOf(t, `{"on":1}`, new(ranges)), "on", "on must be a boolean"},
		{"top level", typeErrorOf(t, `[]`, new(ranges)), "", "body must be an object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := echo4.FromEcho(tc.err)
			if got.Code() != errorsx.CodeInvalidRequest || got.Param() != tc.wantParam || got.Message() != tc.wantMessage {
				t.Errorf("got %s %q %q, want invalid_request %q %q", got.Code(), got.Param(), got.Message(), tc.wantParam, tc.wantMessage)
			}
			if !errors.Is(got, tc.err) {
				t.Error("the original error is not kept as the cause")
			}
		})
	}
}

// No syntax or type error of encoding/json, for a wide set of malformed
// bodies, reaches the client in the decoder's words.
func TestFromInputHasNoDecoderWords(t *testing.T) {
	type target struct {
		N int             `json:"n"`
		S string          `json:"s"`
		B bool            `json:"b"`
		L []int           `json:"l"`
		O struct{ X int } `json:"o"`
		U uint8           `json:"u"`
		F float32         `json:"f"`
	}
	bodies := []string{
		`nul`, `tru`, `fals`, `nulx`, `x`, `{"a"`, `{"a":`, `{"a":1,`, `{,}`, `{"a":1 "b":2}`, `[1 2]`, `[1,]`,
		`{"a":"\u"}`, `{"a":"\uZZZZ"}`, `{"a":1.}`, `{"a":1e}`, `{"a":+1}`, `{"a":.5}`, `{"a":0x10}`, `{"a":NaN}`,
		"\xef\xbb\xbf{}", `}`, `{} {}`, `1 2`, "{\"a\":\"\t\"}", strings.Repeat("{\"a\":", 10001),
		`{"n":"1"}`, `{"n":1.5}`, `{"n":1e99}`, `{"s":1}`, `{"b":"x"}`, `{"l":{}}`, `{"l":[true]}`, `{"o":[]}`,
		`{"o":{"X":"y"}}`, `{"u":-1}`, `{"u":256}`, `{"f":1e39}`, `"x"`, `[]`, `7`,
	}
	for _, body := range bodies {
		err := json.Unmarshal([]byte(body), new(target))
		if err == nil {
			continue
		}
		for _, wrapped := range []error{err, echo.NewHTTPError(http.StatusBadRequest, err.Error()).SetInternal(err)} {
			got := echo4.FromEcho(wrapped)
			// Our own prefix names the format; Go's "json: ..." must not appear.
			msg := strings.Replace(strings.ToLower(got.Message()), "body is not valid json: ", "body is not valid: ", 1)
			if got.Code() != errorsx.CodeInvalidRequest {
				t.Errorf("%q: got %s, want invalid_request", body, got.Code())
			}
			for _, w := range goDecoderWords {
				if strings.Contains(msg, w) {
					t.Errorf("%q: message %q contains %q", body, got.Message(), w)
				}
			}
		}
	}
}
