package authtest

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/internal/doors"
)

// discardRW is a ResponseWriter that keeps nothing, so a benchmark measures
// the guards and not a recorder.
type discardRW struct{ h http.Header }

func (w *discardRW) Header() http.Header         { return w.h }
func (w *discardRW) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardRW) WriteHeader(int)             {}

// Bench measures auth.Authenticator + RequireScopes("models:read") over a
// MemoryKeyStore of [Keys] on GET /v1/models, through each front door:
// "accept" sends a valid key, "reject" an unknown one. Select a door with
// -bench 'Auth/echo4'. Besides ns/op it reports cpu-ns/op, the process CPU
// time per request (GC included), which stays meaningful on a loaded
// machine.
func Bench(b *testing.B) {
	for _, d := range doors.All() {
		b.Run(d.Name, func(b *testing.B) {
			keys, err := auth.NewMemoryKeyStore(Keys())
			if err != nil {
				b.Fatal(err)
			}
			authn, err := auth.New(auth.Config{Store: keys})
			if err != nil {
				b.Fatal(err)
			}
			read, err := auth.RequireScopes("models:read")
			if err != nil {
				b.Fatal(err)
			}
			h := d.New(b, doors.Spec{
				Errors: errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)},
				Routes: []doors.Route{{Method: http.MethodGet, Path: "/v1/models", Guards: []guard.Guard{authn, read},
					Handler: func(w http.ResponseWriter, _ *http.Request, _ doors.Params) error {
						w.WriteHeader(http.StatusOK)
						return nil
					}}},
			})
			b.Run("accept", func(b *testing.B) { serve(b, h, "Bearer sk_test_full", http.StatusOK) })
			b.Run("reject", func(b *testing.B) { serve(b, h, "Bearer sk_test_nope", http.StatusUnauthorized) })
		})
	}
}

// serve serves GET /v1/models with the given Authorization through h on
// all Ps, after checking the status of one response.
func serve(b *testing.B, h http.Handler, authorization string, wantCode int) {
	b.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
	req.Header.Set("Authorization", authorization)
	h.ServeHTTP(rec, req)
	if rec.Code != wantCode {
		b.Fatalf("got status %d, want %d (body %s)", rec.Code, wantCode, rec.Body)
	}
	b.ReportAllocs()
	cpu0, cpuOK := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
		req.Header.Set("Authorization", authorization)
		w := &discardRW{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, req)
		}
	})
	b.StopTimer()
	if cpu1, ok := processCPU(); ok && cpuOK {
		b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
