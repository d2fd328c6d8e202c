package nethttp_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/nethttp"
)

// A ServeMux behind the front handler: handlers return errors, unknown
// routes and wrong methods are the contract's 404.
func ExampleHandler() {
	mux := http.NewServeMux()
	mux.Handle("GET /v1/models/{id}", nethttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return errorsx.NotFound().WithParam("id").WithMessage("model " + r.PathValue("id") + " does not exist")
	}))
	h := nethttp.Must(nethttp.Handler(mux, nethttp.Config{Errors: errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)}}))

	for _, target := range []string{"GET /v1/models/clipia-x", "POST /v1/models/clipia-x"} {
		var method, path string
		fmt.Sscan(target, &method, &path)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		fmt.Println(rec.Code, rec.Body)
	}
	// Output:
	// 404 {"error":{"type":"invalid_request_error","code":"not_found","message":"model clipia-x does not exist","param":"id"}}
	// 404 {"error":{"type":"invalid_request_error","code":"not_found","message":"The requested resource was not found."}}
}
