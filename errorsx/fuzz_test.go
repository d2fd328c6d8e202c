package errorsx_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/middleware/echo4"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// marshal is encoding/json's encoding of s, the reference the renderer's own
// encoder must match byte for byte.
func marshal(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// FuzzRender drives the renderer's inputs: the Accept header, the incoming
// X-Request-Id, and an error built from a message and a param string (as an
// *errorsx.Error of some row, an *echo.HTTPError of some status, a plain
// error, or an unknown code). Whatever they hold, the response must be one
// of the eleven rows with valid JSON whose strings round-trip exactly as
// encoding/json escapes them.
func FuzzRender(f *testing.F) {
	f.Add("application/json", "req_1", "prompt is required", "prompt", uint16(0))
	f.Add("application/problem+json", "", "duration must be at most 60", "input.duration", uint16(7))
	f.Add("application/problem+json;q=0.4, application/json;q=0.5", "bad id", "<script>&\u2028", "", uint16(404))
	f.Add("*/*", strings.Repeat("x", 129), "\xff\xfe\x00\"\\\n", "a\tb", uint16(1000))
	f.Add("application/problem+json, */*;q=0.1", "0b6f5f0e-8d2a-4e8b-9a53-0c1c1f2f3a4b", "", "", uint16(2003))
	f.Add("APPLICATION/PROBLEM+JSON;q=1", "a\r\nSet-Cookie: x=1", "%v %w", "😀", uint16(3010))

	e := echo.New()
	e.HTTPErrorHandler = echo4.ErrorHandler(errorsx.HandlerConfig{
		Logger: discardLogger(), ProblemJSON: true,
	})
	e.Use(echo4.Use(guard.RequestID(guard.RequestIDConfig{SendRequestID: true})))
	e.GET("/fuzz", func(c echo.Context) error {
		return c.Request().Context().Value(errKey{}).(error)
	})

	f.Fuzz(func(t *testing.T, accept, reqID, msg, param string, sel uint16) {
		var err error
		var wantMsg, wantParam string // the exact message and param, when known
		switch sel % 4 {
		case 0: // a catalogue error with a custom message and param
			e := errorConstructors[int(sel/4)%len(errorConstructors)]().WithMessage(msg).WithParam(param)
			err, wantMsg, wantParam = fmt.Errorf("wrapped: %w", e), e.Message(), e.Param()
		case 1: // an echo.HTTPError of any status with the fuzzed message
			err = echo.NewHTTPError(100+int(sel/4)%500, msg).SetInternal(errors.New(param))
		case 2: // an unknown error: the fixed 500 message
			err = errors.New(msg + param)
			r, _ := errorsx.Lookup(errorsx.CodeInternal)
			wantMsg = r.Message
		default: // New with a fuzzed code
			e := errorsx.New(errorsx.Code(msg)).WithParam(param)
			err, wantParam = e, e.Param()
		}

		req := httptest.NewRequest(http.MethodGet, "/fuzz", nil)
		req = req.WithContext(context.WithValue(req.Context(), errKey{}, err))
		req.Header[echo.HeaderAccept] = []string{accept}
		req.Header[errorsx.HeaderRequestID] = []string{reqID}
		rec := serve(e, req)

		mapped := echo4.FromEcho(err)
		row, ok := errorsx.Lookup(mapped.Code())
		if !ok || rec.Code != row.Status {
			t.Fatalf("got status %d code %s, want a catalogue row", rec.Code, mapped.Code())
		}
		if wantMsg == "" {
			wantMsg = mapped.Message()
		}
		body := rec.Body.String()
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("invalid JSON: %q", body)
		}
		paramPart := ""
		if wantParam != "" {
			paramPart = `,"param":` + marshal(wantParam)
		}
		var want string
		if rec.Header().Get(echo.HeaderContentType) == errorsx.ContentTypeProblem {
			want = fmt.Sprintf(`{"type":%s,"title":%s,"status":%d,"detail":%s,"code":%s%s}`,
				marshal("urn:apiguard:error:"+string(row.Code)), marshal(row.Title), row.Status, marshal(wantMsg), marshal(string(row.Code)), paramPart)
		} else {
			want = fmt.Sprintf(`{"error":{"type":%s,"code":%s,"message":%s%s}}`,
				marshal(row.Type), marshal(string(row.Code)), marshal(wantMsg), paramPart)
			if _, _, cerr := checkRow(rec); cerr != nil {
				t.Fatal(cerr)
			}
		}
		if body != want {
			t.Fatalf("got body\n%s\nwant\n%s", body, want)
		}

		id := rec.Header().Get(errorsx.HeaderRequestID)
		if errorsx.ValidRequestID(reqID) {
			if id != reqID {
				t.Fatalf("got X-Request-Id %q, want %q", id, reqID)
			}
		} else if _, perr := uuid.Parse(id); perr != nil {
			t.Fatalf("got X-Request-Id %q for incoming %q, want a new UUID", id, reqID)
		}
		if strings.ContainsAny(id, "\r\n\x00") {
			t.Fatalf("X-Request-Id %q carries control characters", id)
		}
	})
}

// FuzzAppendEnvelope checks the envelope encoder alone against
// encoding/json, byte for byte.
func FuzzAppendEnvelope(f *testing.F) {
	f.Add("message", "param")
	f.Add("\x00\x1f\x7f\b\f\n\r\t\"\\<>&\u2028\u2029", "\xff\xc3\xed\xa0\x80")
	f.Fuzz(func(t *testing.T, msg, param string) {
		e := errorsx.InvalidRequest().WithMessage(msg).WithParam(param)
		got := string(errorsx.AppendEnvelope(nil, e))
		var want strings.Builder
		want.WriteString(`{"error":{"type":"invalid_request_error","code":"invalid_request","message":` + marshal(e.Message()))
		if p := e.Param(); p != "" {
			want.WriteString(`,"param":` + marshal(p))
		}
		want.WriteString("}}")
		if got != want.String() {
			t.Fatalf("got %s, want %s", got, want.String())
		}
		if _, err := checkEnvelope([]byte(got)); err != nil {
			t.Fatal(err)
		}
	})
}
