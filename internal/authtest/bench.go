package authtest

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// discardRW is a ResponseWriter that keeps nothing, so a benchmark measures
// the guards and not a recorder.
type discardRW struct{ h http.Header }

func (w *discardRW) Header() http.Header         { return w.h }
func (w *discardRW) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardRW) WriteHeader(int)             {}

// Bench serves GET /v1/models with the given Authorization through h on
// all Ps, after checking the status of one response. Besides ns/op it
// reports cpu-ns/op, the process CPU time per request (GC included), which
// stays meaningful on a loaded machine.
func Bench(b *testing.B, h http.Handler, authorization string, wantCode int) {
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
