package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/clipia/apiguard/internal/redistest"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/redisstore"
	"github.com/go-redis/redis_rate/v10"
	echomw "github.com/labstack/echo/v4/middleware"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// TestContendersAgree checks that the benchmarks compare like with like:
// every contender, given the same limit (burst 200, refilling too slowly to
// matter during the test), lets exactly the burst through for a new caller
// and refuses the rest.
func TestContendersAgree(t *testing.T) {
	const burst, tries = 200, 260
	policies := []ratelimit.Policy{{Name: "agree", Rate: 1, Period: time.Hour, Burst: burst}}
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Addr(t)})
	t.Cleanup(func() { rdb.Close() })
	prefix := redistest.Prefix(t)

	mem := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{})
	t.Cleanup(func() { mem.Close() })
	rs, err := redisstore.New(rdb, redisstore.Config{Prefix: prefix + "ag:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	echoStore := echomw.NewRateLimiterMemoryStoreWithConfig(echomw.RateLimiterMemoryStoreConfig{
		Rate: rate.Every(time.Hour), Burst: burst, ExpiresIn: time.Hour,
	})
	rr := redis_rate.NewLimiter(rdb)
	rrLimit := redis_rate.Limit{Rate: 1, Burst: burst, Period: time.Hour}

	contenders := []struct {
		name string
		take func(key string) (bool, error)
	}{
		{"apiguard memory", func(k string) (bool, error) {
			r, err := mem.Take(ctx, k, policies, 1)
			return r.Allowed, err
		}},
		{"apiguard redis", func(k string) (bool, error) {
			r, err := rs.Take(ctx, k, policies, 1)
			return r.Allowed, err
		}},
		{"echo memory", func(k string) (bool, error) { return echoStore.Allow(k) }},
		{"redis_rate", func(k string) (bool, error) {
			r, err := rr.Allow(ctx, prefix+"rr:"+k, rrLimit)
			if err != nil {
				return false, err
			}
			return r.Allowed == 1, nil
		}},
	}
	for _, c := range contenders {
		t.Run(c.name, func(t *testing.T) {
			allowed := 0
			for range tries {
				ok, err := c.take("caller-1")
				if err != nil {
					t.Fatalf("take: %v", err)
				}
				if ok {
					allowed++
				}
			}
			if allowed != burst {
				t.Errorf("allowed %d of %d, want exactly the burst, %d", allowed, tries, burst)
			}
		})
	}
}
