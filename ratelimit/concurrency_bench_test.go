package ratelimit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/clipia/apiguard/ratelimit"
)

// BenchmarkMemoryConcurrencyStore measures one Acquire and its Release on
// the memory store: one key (serial), and many keys from parallel
// goroutines.
func BenchmarkMemoryConcurrencyStore(b *testing.B) {
	s := ratelimit.NewMemoryConcurrencyStore(ratelimit.MemoryConcurrencyConfig{})
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			res, err := s.Acquire(ctx, "key:k", 4, ratelimit.DefaultConcurrencyLease)
			if err != nil || !res.Acquired {
				b.Fatal(res, err)
			}
			_ = s.Release(ctx, "key:k", res.Token)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		var n atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			key := "key:" + strconv.FormatInt(n.Add(1), 10)
			for pb.Next() {
				res, err := s.Acquire(ctx, key, 4, ratelimit.DefaultConcurrencyLease)
				if err != nil || !res.Acquired {
					b.Error(res, err)
					return
				}
				_ = s.Release(ctx, key, res.Token)
			}
		})
	})
}

// BenchmarkConcurrencyAcquire measures the core guard per request (the
// default key, headers, slot, renewal timer and release) on the memory
// store, and a skipped request.
func BenchmarkConcurrencyAcquire(b *testing.B) {
	for _, bc := range []struct {
		name string
		skip bool
	}{{"memory", false}, {"skipped", true}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := ratelimit.ConcurrencyConfig{Limit: 100}
			if bc.skip {
				cfg.Skip = func(*http.Request) bool { return true }
			}
			c, err := ratelimit.NewConcurrency(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Run("serial", func(b *testing.B) {
				w := &headerWriter{h: http.Header{}}
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				b.ReportAllocs()
				for range b.N {
					clear(w.h)
					release, err := c.Acquire(w, req, "/")
					if err != nil {
						b.Fatal(err)
					}
					release()
				}
			})
			b.Run("parallel", func(b *testing.B) {
				var n atomic.Int64
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					w := &headerWriter{h: http.Header{}}
					req := httptest.NewRequest(http.MethodGet, "/", nil)
					req.RemoteAddr = "192.0.2." + strconv.FormatInt(n.Add(1)%250, 10) + ":1"
					for pb.Next() {
						clear(w.h)
						release, err := c.Acquire(w, req, "/")
						if err != nil {
							b.Error(err)
							return
						}
						release()
					}
				})
			})
		})
	}
}

// headerWriter keeps only the headers, so that a benchmark measures the
// guard, not a recorder.
type headerWriter struct{ h http.Header }

func (w *headerWriter) Header() http.Header         { return w.h }
func (w *headerWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *headerWriter) WriteHeader(int)             {}
