package pgstore_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/pgstore"
)

// TestDataExceptionIsNotRetryable maps real PostgreSQL errors: a data
// exception caused by a value is 400, another data exception 500, and
// anything else is not a data exception.
func TestDataExceptionIsNotRetryable(t *testing.T) {
	p := pool(t)
	ctx := context.Background()
	tests := []struct {
		name string
		sql  string
		args []any
		want errorsx.Code // "" means not a data exception
	}{
		{"U+0000 in text", "SELECT $1::text", []any{"a\x00b"}, errorsx.CodeInvalidRequest},
		{"bytes that are not UTF-8", "SELECT $1::text", []any{"a\xffb"}, errorsx.CodeInvalidRequest},
		{"\\u0000 in jsonb", `SELECT '{"a":"\u0000"}'::jsonb`, nil, errorsx.CodeInvalidRequest},
		{"too long for varchar", "SELECT $1::text::varchar(3)", []any{"abcdef"}, ""}, // a cast truncates
		{"out of range", "SELECT $1::text::smallint", []any{"99999"}, errorsx.CodeInvalidRequest},
		{"not a number", "SELECT $1::text::int", []any{"ten"}, errorsx.CodeInvalidRequest},
		{"division by zero", "SELECT 1 / (SELECT 0)", nil, errorsx.CodeInternal},
		{"syntax error", "SELEC 1", nil, ""},
		{"undefined table", "SELECT * FROM apiguard_no_such_table", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out any
			err := p.QueryRow(ctx, tc.sql, tc.args...).Scan(&out)
			if err == nil && tc.want != "" {
				t.Fatal("got no error, want a data exception")
			}
			e := pgstore.DataException(err)
			switch {
			case tc.want == "" && e != nil:
				t.Errorf("got %v, want nil (not a data exception: %v)", e, err)
			case tc.want != "" && e == nil:
				t.Errorf("got nil, want %s (error %v)", tc.want, err)
			case e != nil && e.Code() != tc.want:
				t.Errorf("got %s, want %s (error %v)", e.Code(), tc.want, err)
			case e != nil && !errors.Is(e, err):
				t.Errorf("the cause %v is not kept", err)
			}
		})
	}
	if e := pgstore.DataException(errors.New("dial tcp: connection refused")); e != nil {
		t.Errorf("got %v for a network error, want nil", e)
	}
}

// TestRefusedValueInTheTransactionIs400: a handler whose statement the
// database refuses for its value (a string holding U+0000) answers 400 with
// pgstore.DataException; the guard stores and replays that 400, and never
// turns it into a 503 (the COMMIT of the failed transaction used to fail).
func TestRefusedValueInTheTransactionIs400(t *testing.T) {
	p := pool(t)
	s := newStore(t, p, pgstore.Config{})
	table := ledger(t, p)
	g, err := idempotency.New(idempotency.Config{Store: s, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	renderer := errorsx.NewRenderer(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	runs := 0
	handler := func(w http.ResponseWriter, r *http.Request) error {
		runs++
		tx, ok := pgstore.TxFromContext(r.Context())
		if !ok {
			t.Error("no transaction in the handler's context")
			return errorsx.Internal()
		}
		if _, err := tx.Exec(r.Context(), "INSERT INTO "+table+" (id, amount) VALUES ($1, 5)", "gen\x00"); err != nil {
			if e := pgstore.DataException(err); e != nil {
				return e
			}
			return errorsx.ServiceUnavailable().WithCause(err)
		}
		w.WriteHeader(http.StatusCreated)
		return nil
	}
	send := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v1/generations", strings.NewReader(`{"prompt":"x"}`))
		req.Header.Set("Idempotency-Key", "nul-1")
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		c := &testCall{route: "/v1/generations", next: handler, render: renderer}
		if err := g.Serve(rec, req, c); err != nil && !errorsx.IsRendered(err) {
			renderer.Write(rec, req, "/v1/generations", err)
		}
		return rec
	}
	first := send()
	if first.Code != http.StatusBadRequest {
		t.Fatalf("got %d %s, want 400 invalid_request", first.Code, first.Body)
	}
	second := send()
	if second.Code != http.StatusBadRequest || second.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("got %d (replayed %q) %s, want the stored 400 replayed", second.Code, second.Header().Get("Idempotent-Replayed"), second.Body)
	}
	if runs != 1 {
		t.Errorf("the handler ran %d times, want 1", runs)
	}
	if n := rowsIn(t, p, table); n != 0 {
		t.Errorf("got %d rows written, want 0", n)
	}

}

// testCall is the guard.Call of a request served straight to the guard.
type testCall struct {
	route  string
	next   func(w http.ResponseWriter, r *http.Request) error
	render *errorsx.Renderer
}

func (c *testCall) Route() string                                     { return c.route }
func (c *testCall) Param(string) string                               { return "" }
func (c *testCall) Next(w http.ResponseWriter, r *http.Request) error { return c.next(w, r) }
func (c *testCall) Render(w http.ResponseWriter, r *http.Request, err error) {
	c.render.Write(w, r, c.route, err)
}
