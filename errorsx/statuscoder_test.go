package errorsx_test

import (
	"errors"
	"fmt"
	"testing"

	_ "github.com/clipia/apiguard/bind" // registers the validator mapper, as a program that binds does
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

// TestFromStatusCoder: an error that carries its status maps by it, as
// the doors hand framework errors to From.
func TestFromStatusCoder(t *testing.T) {
	ve := validator.New().Var("", "required")
	for _, tc := range []struct {
		name    string
		err     error
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
		{name: "validator", err: ve, status: 400, code: errorsx.CodeInvalidRequest, message: "value is required"},
		{name: "wrapped validator", err: fmt.Errorf("x: %w", ve), status: 400, code: errorsx.CodeInvalidRequest, message: "value is required"},
		{name: "plain", err: errors.New("db"), status: 500, code: errorsx.CodeInternal},
		{name: "panicking", err: &nilCoder{}, status: 500, code: errorsx.CodeInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := errorsx.From(tc.err)
			if e.Status() != tc.status || e.Code() != tc.code || (tc.message != "" && e.Message() != tc.message) || e.Param() != tc.param {
				t.Errorf("got %d %s %q %q, want %d %s %q %q", e.Status(), e.Code(), e.Message(), e.Param(),
					tc.status, tc.code, tc.message, tc.param)
			}
		})
	}
	if n := alloctest.PerRun(100, func() { errorsx.From(coder(404)) }); n > 1 {
		t.Errorf("bare 404: got %.0f allocations, want at most 1", n)
	}
}
