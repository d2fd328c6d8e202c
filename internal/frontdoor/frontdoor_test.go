package frontdoor

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/alloctest"
	"github.com/go-playground/validator/v10"
)

type coder int

func (c coder) Error() string   { return fmt.Sprint(int(c)) }
func (c coder) StatusCode() int { return int(c) }

// wrapCoder is a status error around another error, as Echo v5's
// HTTPError.Wrap makes.
type wrapCoder struct {
	code int
	err  error
}

func (w *wrapCoder) Error() string   { return "wrap" }
func (w *wrapCoder) StatusCode() int { return w.code }
func (w *wrapCoder) Unwrap() error   { return w.err }

type nilCoder struct{ p *int }

func (n *nilCoder) Error() string   { return "nil" }
func (n *nilCoder) StatusCode() int { return *n.p } // panics
func (n *nilCoder) Unwrap() error   { return errors.New("inner") }

func TestMap(t *testing.T) {
	ve := validator.New().Var("", "required")
	for _, tc := range []struct {
		name    string
		err     error
		field   func(error) string
		status  int
		code    errorsx.Code
		message string
		param   string
	}{
		{name: "catalogue", err: errorsx.RateLimitExceeded(), status: 429, code: errorsx.CodeRateLimitExceeded},
		{name: "typed nil catalogue", err: (*errorsx.Error)(nil), status: 500, code: errorsx.CodeInternal},
		{name: "bare 404", err: coder(404), status: 404, code: errorsx.CodeNotFound},
		{name: "bare 405", err: coder(405), status: 404, code: errorsx.CodeNotFound},
		{name: "bare 413", err: coder(413), status: 400, code: errorsx.CodeInvalidRequest, message: "The request body is too large."},
		{name: "wrapped 429", err: fmt.Errorf("x: %w", coder(429)), status: 429, code: errorsx.CodeRateLimitExceeded},
		{name: "inner decides", err: &wrapCoder{400, coder(415)}, status: 400, code: errorsx.CodeInvalidRequest,
			message: "Unsupported Content-Type. Send application/json."},
		{name: "catalogue inside a status error", err: &wrapCoder{400, errorsx.InsufficientCredits()}, status: 402, code: errorsx.CodeInsufficientCredits},
		{name: "field", err: &wrapCoder{400, errors.New("strconv")}, field: func(error) string { return "limit" },
			status: 400, code: errorsx.CodeInvalidRequest, message: "limit is not valid", param: "limit"},
		{name: "validator", err: ve, status: 400, code: errorsx.CodeInvalidRequest, message: "value is required"},
		{name: "wrapped validator", err: fmt.Errorf("x: %w", ve), status: 400, code: errorsx.CodeInvalidRequest, message: "value is required"},
		{name: "plain", err: errors.New("db"), status: 500, code: errorsx.CodeInternal},
		{name: "panicking", err: &nilCoder{}, status: 500, code: errorsx.CodeInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := Map(tc.err, tc.field)
			if e.Status() != tc.status || e.Code() != tc.code || (tc.message != "" && e.Message() != tc.message) || e.Param() != tc.param {
				t.Errorf("got %d %s %q %q, want %d %s %q %q", e.Status(), e.Code(), e.Message(), e.Param(),
					tc.status, tc.code, tc.message, tc.param)
			}
		})
	}
	if Map(nil, nil) != nil {
		t.Error("Map(nil) is not nil")
	}
	if n := alloctest.PerRun(100, func() { Map(coder(404), nil) }); n > 1 {
		t.Errorf("bare 404: got %.0f allocations, want at most 1", n)
	}
}

func TestHeadWriter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		write  func(w http.ResponseWriter)
		status int
		length string
	}{
		{"body", func(w http.ResponseWriter) { _, _ = w.Write([]byte("hello")) }, 200, "5"},
		{"status and body", func(w http.ResponseWriter) { w.WriteHeader(201); _, _ = w.Write([]byte("hi")) }, 201, "2"},
		{"own length", func(w http.ResponseWriter) { w.Header().Set("Content-Length", "9"); _, _ = w.Write([]byte("hi")) }, 200, "9"},
		{"no body", func(w http.ResponseWriter) { w.WriteHeader(204) }, 204, ""},
		{"flushed", func(w http.ResponseWriter) { _, _ = w.Write([]byte("hi")); w.(http.Flusher).Flush() }, 200, ""},
		{"second status ignored", func(w http.ResponseWriter) { w.WriteHeader(202); w.WriteHeader(500) }, 202, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			hw := NewHeadWriter(rec)
			tc.write(hw)
			hw.Finish()
			if rec.Code != tc.status || rec.Header().Get("Content-Length") != tc.length || rec.Body.Len() != 0 {
				t.Errorf("got %d %v %q, want %d Content-Length %q", rec.Code, rec.Header(), rec.Body, tc.status, tc.length)
			}
			if hw.Unwrap() != rec {
				t.Error("Unwrap")
			}
		})
	}
}

func TestHeaderLimit(t *testing.T) {
	if _, err := NewHeaderLimit("door", -1); err == nil || !strings.HasPrefix(err.Error(), "door: ") {
		t.Errorf("got %v", err)
	}
	l, _ := NewHeaderLimit("door", 0)
	if l.max != DefaultMaxHeaderBytes {
		t.Errorf("default %d", l.max)
	}
	r := httptest.NewRequest("GET", "/abc", nil) // "GET /abc HTTP/1.1\r\n" + "Host: example.com\r\n"
	r.Header.Set("X-A", "b")                     // "X-A: b\r\n"
	if got, want := headerSize(r, 1<<20), 19+19+8; got != want {
		t.Errorf("headerSize %d, want %d", got, want)
	}
	l, _ = NewHeaderLimit("door", 46)
	if l.Check(r) != nil {
		t.Error("at the limit: refused")
	}
	l, _ = NewHeaderLimit("door", 45)
	if err := l.Check(r); err == nil || !strings.Contains(err.(*errorsx.Error).Message(), "at most 45 bytes") {
		t.Errorf("over the limit: got %v", err)
	}
}

func TestStackSize(t *testing.T) {
	if n, err := StackSize("d", 0); n != DefaultStackSize || err != nil {
		t.Errorf("got %d %v", n, err)
	}
	if n, err := StackSize("d", 10); n != 10 || err != nil {
		t.Errorf("got %d %v", n, err)
	}
	if _, err := StackSize("d", -1); err == nil {
		t.Error("negative: no error")
	}
	e := Recovered("boom", 100)
	var st interface{ Stack() string }
	if !errors.Is(e, ErrPanic) || !errors.As(e, &st) || len(st.Stack()) == 0 || len(st.Stack()) > 100 {
		t.Errorf("got %v", e)
	}
}
