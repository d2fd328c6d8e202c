package nethttp_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/nethttp"
)

// benchWriter keeps only headers, status and a byte count, so the
// benchmarks measure the front door, not a recorder's buffer.
type benchWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }

// BenchmarkHandler compares a ServeMux behind nethttp.Handler, writing
// errors with nethttp.Error, with the same mux bare, writing http.Error:
// a handler's 404, an unknown route (the flood path) and a success.
func BenchmarkHandler(b *testing.B) {
	bare := http.NewServeMux()
	bare.HandleFunc("GET /v1/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found", http.StatusNotFound)
	})
	bare.HandleFunc("GET /v1/ok/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })

	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		nethttp.Error(w, r, errorsx.NotFound())
	})
	mux.HandleFunc("GET /v1/ok/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	front := nethttp.Must(nethttp.Handler(mux, nethttp.Config{Errors: errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)}}))

	for _, tc := range []struct {
		name string
		h    http.Handler
		path string
		want int
	}{
		{"bare/http.Error-404", bare, "/v1/items/7", 404},
		{"Handler/Error-404", front, "/v1/items/7", 404},
		{"bare/unknown-404", bare, "/nope", 404},
		{"Handler/unknown-404", front, "/nope", 404},
		{"bare/success-204", bare, "/v1/ok/7", 204},
		{"Handler/success-204", front, "/v1/ok/7", 204},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			req.Header.Set(errorsx.HeaderRequestID, "req_0b6f5f0e8d2a4e8b")
			w := &benchWriter{h: make(http.Header)}
			tc.h.ServeHTTP(w, req)
			if w.code != tc.want {
				b.Fatalf("got %d, want %d", w.code, tc.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				tc.h.ServeHTTP(w, req)
			}
		})
	}
}
