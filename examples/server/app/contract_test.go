package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/clipia/apiguard/contracttest"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/openapidoc"
)

// TestContract runs the contract checker on the reference server, built
// in-process on each front door, against its OpenAPI document: the one it
// serves at GET /openapi.json, or, while it serves none, the hand-written
// testdata/openapi.paths.json completed with the catalogue's error
// components.
func TestContract(t *testing.T) {
	handWritten, err := openapidoc.WithErrors("testdata/openapi.paths.json",
		errorsx.OpenAPIConfig{HandlerConfig: errorsx.HandlerConfig{ProblemJSON: true}, SendRequestID: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, fw := range Frameworks() {
		t.Run(fw, func(t *testing.T) {
			a, err := New(context.Background(), Config{
				Framework: fw, Rate: 1000, Burst: 1000, Credits: 1000,
				IdempotencyTTL: time.Hour, LockTTL: 30 * time.Second,
				Generate: func(context.Context, string) error { return nil },
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = a.Close() })
			doc := handWritten
			rec := httptest.NewRecorder()
			a.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
			if rec.Code == http.StatusOK {
				doc = rec.Body.Bytes()
			} else {
				t.Log("GET /openapi.json: not served; checking the hand-written document")
			}
			contracttest.Run(t, a.Handler(), doc,
				contracttest.Key("sk_test_full"),
				contracttest.Body("POST /v1/generations", `{"model":"clipia-fast","prompt":"a cat","duration":1}`),
				contracttest.PathParam("id", "clipia-fast"))
		})
	}
}
