package redisstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/internal/redistest"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/redisstore"
	"github.com/clipia/apiguard/ratelimit/storetest"
)

var fuzzRun atomic.Int64

// FuzzRedisMatchesMemory runs the same random requests (arbitrary keys,
// policy parameters up to the 2^53 ns refill limit, costs, clock steps in
// nanoseconds) against the Redis store and the memory store: the Lua script,
// computing with doubles, must agree with the Go math to the nanosecond.
func FuzzRedisMatchesMemory(f *testing.F) {
	f.Add("alice", int64(10), int64(time.Second), int64(20), int64(0), []byte{1, 2, 3, 200, 4, 0, 9})
	f.Add("{tag}", int64(1), int64(1<<53), int64(1), int64(999_999_999), []byte{255, 255, 0, 1, 3, 3})
	f.Add("", int64(7), int64(time.Hour), int64(1<<20), int64(123), []byte{16, 32, 48, 7, 11})
	client := redistest.Client(f)
	prefix := redistest.Prefix(f)
	f.Fuzz(func(t *testing.T, key string, rate, period, burst, offset int64, ops []byte) {
		p := ratelimit.Policy{Name: "fuzz", Rate: rate, Period: time.Duration(period), Burst: burst}
		if p.Validate() != nil || len(ops) > 64 {
			return
		}
		policies := []ratelimit.Policy{p, ratelimit.PerMinute("minute", 600, 50)}
		var clock storetest.Clock
		clock.Advance(time.Duration(offset % int64(time.Hour)))
		mem := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{Now: clock.Now, SweepInterval: -1})
		defer mem.Close()
		rs, err := redisstore.New(client, redisstore.Config{Prefix: fmt.Sprintf("%s%d:", prefix, fuzzRun.Add(1)), Now: clock.Now, MaxBatch: 1, Timeout: storeTimeout})
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		ctx := context.Background()
		for i, op := range ops {
			if op&3 == 3 {
				clock.Advance(time.Duration(op)*p.Refill()/255 + time.Duration(op))
				continue
			}
			ps := policies[:1+int(op>>2&1)]
			cost := int64(op>>3) % (min(p.Capacity(), 31) + 1)
			want, err := mem.Take(ctx, key, ps, cost)
			if err != nil {
				t.Fatal(err)
			}
			got, err := rs.Take(ctx, key, ps, cost)
			if err != nil {
				t.Fatalf("op %d: %v", i, err)
			}
			if got != want {
				t.Fatalf("op %d (cost %d, %d policies): redis %+v, memory %+v", i, cost, len(ps), got, want)
			}
		}
	})
}
