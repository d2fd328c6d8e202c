package ratelimit

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/internal/redistest"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/redisstore"
	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// parallelism × GOMAXPROCS goroutines decide at once (50 on 2 cores).
const parallelism = 25

// hotTimeout is the store Timeout of BenchmarkRedisHotCaller's apiguard
// contenders: the default (500ms) is a stall a shared machine can reach
// between the benchmark and its Redis, and the run then fails with
// ErrTimeout (redis_rate has no such deadline).
const hotTimeout = 5 * time.Second

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

// BenchmarkRedisHotCaller is the case local token batches are for: one
// caller (an API key hammering a route, 10^9/s so nothing is refused)
// decided from parallel goroutines on one local Redis. It compares the
// exact Redis store (one script per decision, pipelined), the store with
// TokenBatch 20, and go-redis/redis_rate (one script per decision, the
// anchor), and reports Redis commands sent per decision (a go-redis hook)
// and the Redis server's CPU per decision besides this process's.
func BenchmarkRedisHotCaller(b *testing.B) {
	policies := []ratelimit.Policy{ratelimit.PerSecond("default", 1_000_000_000, 1_000_000_000)}
	for _, tc := range []struct {
		name string
		new  func(rdb *redis.Client, prefix string) func(ctx context.Context) error
	}{
		{"apiguard", func(rdb *redis.Client, prefix string) func(ctx context.Context) error {
			s, err := redisstore.New(rdb, redisstore.Config{Prefix: prefix, Timeout: hotTimeout})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return func(ctx context.Context) error { _, err := s.Take(ctx, "key:hot", policies, 1); return err }
		}},
		{"apiguard-tokenbatch-20", func(rdb *redis.Client, prefix string) func(ctx context.Context) error {
			s, err := redisstore.New(rdb, redisstore.Config{Prefix: prefix, TokenBatch: 20, Timeout: hotTimeout})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return func(ctx context.Context) error { _, err := s.Take(ctx, "key:hot", policies, 1); return err }
		}},
		{"redis_rate", func(rdb *redis.Client, prefix string) func(ctx context.Context) error {
			l := redis_rate.NewLimiter(rdb)
			limit := redis_rate.Limit{Rate: 1_000_000_000, Burst: 1_000_000_000, Period: time.Second}
			return func(ctx context.Context) error { _, err := l.Allow(ctx, prefix+"key:hot", limit); return err }
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			rdb := redis.NewClient(&redis.Options{Addr: redistest.Addr(b)})
			b.Cleanup(func() { rdb.Close() }) // after the store's Close (cleanups run last first)
			var cmds atomic.Int64
			rdb.AddHook(countHook{&cmds})
			take := tc.new(rdb, redistest.Prefix(b))
			ctx := context.Background()
			if err := take(ctx); err != nil { // loads the script
				b.Fatal(err)
			}
			redis0 := redisCPU(b, rdb)
			cmds.Store(0)
			b.SetParallelism(parallelism)
			b.ReportAllocs()
			b.ResetTimer()
			done := measureCPU(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := take(ctx); err != nil {
						b.Error(err)
						return
					}
				}
			})
			done()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
			b.ReportMetric(float64(cmds.Load())/float64(b.N), "redis-cmds/op")
			b.ReportMetric(float64(redisCPU(b, rdb)-redis0)/float64(b.N), "redis-cpu-ns/op")
		})
	}
}

// redisCPU returns the Redis server's CPU time so far (INFO cpu), in ns.
func redisCPU(b *testing.B, rdb *redis.Client) int64 {
	info, err := rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for line := range strings.SplitSeq(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return int64(total * 1e9)
}

// countHook counts the commands sent to Redis, one per command in a
// pipeline.
type countHook struct{ n *atomic.Int64 }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}

func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}
