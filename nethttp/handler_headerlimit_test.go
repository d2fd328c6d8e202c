package nethttp_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/nethttp"
)

// TestHandlerHeaderLimit: with Config.HeaderLimit, headers over the limit
// answer 400 on every path, known or not, before routing (as Echo's
// e.Use(HeaderLimit) does); without it, an unknown route stays a 404.
func TestHandlerHeaderLimit(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /known", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	limited := nethttp.Must(nethttp.Handler(mux, nethttp.Config{HeaderLimit: &nethttp.HeaderLimitConfig{MaxBytes: 1024}}))
	plain := nethttp.Must(nethttp.Handler(mux, nethttp.Config{}))
	big := strings.Repeat("x", 2048)
	for _, tc := range []struct {
		name   string
		h      http.Handler
		path   string
		header string
		want   int
		code   string
	}{
		{"known path, big headers", limited, "/known", big, http.StatusBadRequest, `"code":"invalid_request"`},
		{"unknown path, big headers", limited, "/nope", big, http.StatusBadRequest, `"code":"invalid_request"`},
		{"known path, small headers", limited, "/known", "y", http.StatusNoContent, ""},
		{"unknown path, small headers", limited, "/nope", "y", http.StatusNotFound, `"code":"not_found"`},
		{"no limit configured", plain, "/nope", big, http.StatusNotFound, `"code":"not_found"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			req.Header.Set("X-Big", tc.header)
			rec := httptest.NewRecorder()
			tc.h.ServeHTTP(rec, req)
			if rec.Code != tc.want || !strings.Contains(rec.Body.String(), tc.code) {
				t.Fatalf("status %d body %s, want %d with %s", rec.Code, rec.Body, tc.want, tc.code)
			}
		})
	}
}
