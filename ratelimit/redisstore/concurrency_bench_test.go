package redisstore_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/clipia/apiguard/internal/redistest"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/redisstore"
	"github.com/redis/go-redis/v9"
)

// BenchmarkConcurrencyStore measures one Acquire and its Release (two round
// trips) on a real Redis, serial and from parallel goroutines with a key
// each.
func BenchmarkConcurrencyStore(b *testing.B) {
	c := redis.NewClient(&redis.Options{Addr: redistest.Addr(b), PoolSize: 64})
	b.Cleanup(func() { _ = c.Close() })
	s, err := redisstore.NewConcurrency(c, redisstore.ConcurrencyConfig{Prefix: redistest.Prefix(b)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			res, err := s.Acquire(ctx, "key:k", 4, ratelimit.DefaultConcurrencyLease)
			if err != nil || !res.Acquired {
				b.Fatal(res, err)
			}
			if err := s.Release(ctx, "key:k", res.Token); err != nil {
				b.Fatal(err)
			}
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
				if err := s.Release(ctx, key, res.Token); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
