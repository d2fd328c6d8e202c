package bind_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/errorsx"
)

// testRenderer is the errorsx renderer with logs discarded.
var testRenderer = errorsx.NewRenderer(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})

// route is the smallest net/http front door over a Binder, as the tests of
// the core need it: bind with path parameters from r.PathValue, render an
// error with the one renderer, else call ok with the bound value and model.
func route[T any](t testing.TB, cfg bind.Config, ok func(w http.ResponseWriter, r *http.Request, v *T, m *bind.Model)) http.Handler {
	t.Helper()
	b, err := bind.New[T](cfg)
	if err != nil {
		t.Fatal(err)
	}
	return routeOf(b, ok)
}

func routeOf[T any](b *bind.Binder[T], ok func(w http.ResponseWriter, r *http.Request, v *T, m *bind.Model)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, m, err := b.Bind(w, r, r.PathValue)
		if err != nil {
			testRenderer.Write(w, r, r.Pattern, errorsx.From(err))
			return
		}
		ok(w, r, v, m)
	})
}

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// echoJSON answers 200 with the bound value.
func echoJSON[T any](w http.ResponseWriter, _ *http.Request, v *T, _ *bind.Model) {
	writeJSON(w, http.StatusOK, v)
}

// noContent answers 204.
func noContent[T any](w http.ResponseWriter, _ *http.Request, _ *T, _ *bind.Model) {
	w.WriteHeader(http.StatusNoContent)
}

type envelope struct {
	Error struct {
		Type    string  `json:"type"`
		Code    string  `json:"code"`
		Message string  `json:"message"`
		Param   *string `json:"param"`
	} `json:"error"`
}

func serve(t testing.TB, h http.Handler, req *http.Request) (*httptest.ResponseRecorder, envelope) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var env envelope
	if rec.Code >= 400 {
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
			t.Fatalf("error body is not the envelope: %v: %q", err, rec.Body.String())
		}
	}
	return rec, env
}

func jsonRequest(method, target, body string) *http.Request {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return req
}
