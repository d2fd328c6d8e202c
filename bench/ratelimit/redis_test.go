package ratelimit

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/clipia/apiguard/internal/redistest"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/redisstore"
	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// parallelism × GOMAXPROCS goroutines decide at once (50 on 2 cores).
const parallelism = 25

// runParallel walks the 10,000 keys from a per-goroutine offset, calling
// take for each, and reports decisions per second.
func runParallel(b *testing.B, ks []string, take func(ctx context.Context, key string) error) {
	b.Helper()
	ctx := context.Background()
	var seed atomic.Int64
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	b.ResetTimer()
	done := measureCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		i := int(seed.Add(7919))
		for pb.Next() {
			i++
			if err := take(ctx, ks[i%numKeys]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	done()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

// All contenders share one client (default options) on one local Redis and
// decide 100 per second, burst 200, for 10,000 callers.
func BenchmarkRedisStore(b *testing.B) {
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Addr(b)})
	defer rdb.Close()
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	prefix := redistest.Prefix(b)
	policies := []ratelimit.Policy{ratelimit.PerSecond("default", 100, 200)}

	b.Run("apiguard", func(b *testing.B) {
		s, err := redisstore.New(rdb, redisstore.Config{Prefix: prefix + "ag:"})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		runParallel(b, keys("ip:10.0."), func(ctx context.Context, key string) error {
			_, err := s.Take(ctx, key, policies, 1)
			return err
		})
	})
	b.Run("apiguard-unbatched", func(b *testing.B) {
		s, err := redisstore.New(rdb, redisstore.Config{Prefix: prefix + "agu:", MaxBatch: 1})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		runParallel(b, keys("ip:10.0."), func(ctx context.Context, key string) error {
			_, err := s.Take(ctx, key, policies, 1)
			return err
		})
	})
	b.Run("redis_rate", func(b *testing.B) {
		l := redis_rate.NewLimiter(rdb)
		limit := redis_rate.Limit{Rate: 100, Burst: 200, Period: policies[0].Period}
		ks := keys(prefix + "rr:ip:10.0.")
		runParallel(b, ks, func(ctx context.Context, key string) error {
			_, err := l.Allow(ctx, key, limit)
			return err
		})
	})
	b.Run("bare-evalsha", func(b *testing.B) {
		script := redis.NewScript(`return 1`)
		if err := script.Load(ctx, rdb).Err(); err != nil {
			b.Fatal(err)
		}
		ks := keys(prefix + "ev:")
		runParallel(b, ks, func(ctx context.Context, key string) error {
			return script.EvalSha(ctx, rdb, []string{key}).Err()
		})
	})
}
