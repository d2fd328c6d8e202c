package ratelimit

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/ratelimit"
	echomw "github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"
)

const numKeys = 10_000

func keys(prefix string) []string {
	ks := make([]string, numKeys)
	for i := range ks {
		ks[i] = prefix + strconv.Itoa(i)
	}
	return ks
}

// Both stores: 100 per second, burst 200, 10,000 distinct callers, every
// goroutine walking the keys from its own offset.
func BenchmarkMemoryStore(b *testing.B) {
	ks := keys("ip:10.0.")
	b.Run("apiguard", func(b *testing.B) {
		s := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{})
		defer s.Close()
		policies := []ratelimit.Policy{ratelimit.PerSecond("default", 100, 200)}
		ctx := context.Background()
		var seed atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		defer measureCPU(b)()
		b.RunParallel(func(pb *testing.PB) {
			i := int(seed.Add(7919))
			for pb.Next() {
				i++
				if _, err := s.Take(ctx, ks[i%numKeys], policies, 1); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("echo", func(b *testing.B) {
		s := echomw.NewRateLimiterMemoryStoreWithConfig(echomw.RateLimiterMemoryStoreConfig{
			Rate: rate.Limit(100), Burst: 200, ExpiresIn: 3 * time.Minute,
		})
		var seed atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		defer measureCPU(b)()
		b.RunParallel(func(pb *testing.PB) {
			i := int(seed.Add(7919))
			for pb.Next() {
				i++
				if _, err := s.Allow(ks[i%numKeys]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
