package idempotency_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/middleware"
	"github.com/labstack/echo/v4"
)

// TestPathParametersAreInTheFingerprint: the same key on /x/1 and then /x/2
// is a changed request (409), never the replay of /x/1's answer.
func TestPathParametersAreInTheFingerprint(t *testing.T) {
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	idem := middleware.Must(idempotency.New(idempotency.Config{}))
	e.POST("/x/:id", func(c echo.Context) error {
		return c.String(http.StatusCreated, "made "+c.Param("id"))
	}, idem)
	post := func(path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(idempotency.HeaderIdempotencyKey, "k")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}
	if rec := post("/x/1"); rec.Code != http.StatusCreated || rec.Body.String() != "made 1" {
		t.Fatalf("first: got %d %s", rec.Code, rec.Body)
	}
	if rec := post("/x/1"); rec.Header().Get(idempotency.HeaderIdempotentReplayed) != "true" || rec.Body.String() != "made 1" {
		t.Errorf("same path: got %d %s, want the replay", rec.Code, rec.Body)
	}
	if rec := post("/x/2"); rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "idempotency_key_reuse") {
		t.Errorf("other path parameter: got %d %s, want 409 idempotency_key_reuse", rec.Code, rec.Body)
	}
}
