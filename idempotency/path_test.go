package idempotency_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/idempotency"
)

// TestPathParametersAreInTheFingerprint: the same key on /x/1 and then /x/2
// (one route, /x/{id}) is a changed request (409), never the replay of
// /x/1's answer.
func TestPathParametersAreInTheFingerprint(t *testing.T) {
	g, err := idempotency.New(idempotency.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rd := errorsx.NewRenderer(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /x/{id}", func(w http.ResponseWriter, r *http.Request) {
		err := serve(g, w, r, r.Pattern, func(w http.ResponseWriter, r *http.Request) error {
			return text(w, http.StatusCreated, "made "+r.PathValue("id"))
		}, func(w http.ResponseWriter, r *http.Request, err error) { rd.Write(w, r, r.Pattern, err) })
		if err != nil && !errorsx.IsRendered(err) {
			rd.Write(w, r, r.Pattern, err)
		}
	})
	post := func(path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(idempotency.HeaderIdempotencyKey, "k")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
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
