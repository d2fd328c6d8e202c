package redisstore_test

import (
	"context"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/internal/redistest"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/redisstore"
	"github.com/clipia/apiguard/ratelimit/storetest"
	"github.com/redis/go-redis/v9"
)

// batchClients returns the Redis clients the token batch tests run on: the
// single server, and a Redis Cluster when APIGUARD_REDIS_CLUSTER_ADDRS is
// set (a caller's buckets share one hash tag, so a grant over several
// policies is one script on one node).
func batchClients(t *testing.T) []struct {
	name   string
	client redis.UniversalClient
} {
	out := []struct {
		name   string
		client redis.UniversalClient
	}{{"single", redistest.Client(t)}}
	if addrs := os.Getenv(envClusterAddrs); addrs != "" {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addrs, ",")})
		t.Cleanup(func() { _ = c.Close() })
		out = append(out, struct {
			name   string
			client redis.UniversalClient
		}{"cluster", c})
	}
	return out
}

// processes returns n stores over one Redis and one prefix, as n server
// processes would be, all on clock.
func processes(t *testing.T, c redis.UniversalClient, n int, cfg redisstore.Config, clock *storetest.Clock) []*redisstore.Store {
	t.Helper()
	cfg.Prefix = redistest.Prefix(t)
	cfg.Now = clock.Now
	cfg.Timeout = storeTimeout
	out := make([]*redisstore.Store, n)
	for i := range out {
		s, err := redisstore.New(c, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		out[i] = s
	}
	return out
}

func take(t *testing.T, s *redisstore.Store, policies []ratelimit.Policy, cost int64) ratelimit.Result {
	t.Helper()
	r, err := s.Take(context.Background(), "hot", policies, cost)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// flood sends requests round robin to every process until a whole round
// is refused, and returns how many were allowed.
func flood(t *testing.T, ps []*redisstore.Store, policies []ratelimit.Policy) (allowed int) {
	t.Helper()
	for round := 0; ; round++ {
		if round > 1000 {
			t.Fatal("the buckets never empty")
		}
		any := false
		for _, p := range ps {
			if take(t, p, policies, 1).Allowed {
				allowed++
				any = true
			}
		}
		if !any {
			return allowed
		}
	}
}

// The bound, reached: three processes each hold TokenBatch-1 tokens while
// the shared bucket refills to full; in that instant the caller gets the
// Burst plus (TokenBatch-1) × 3, and not one more. The exact store admits
// the Burst.
func TestTokenBatchOverAdmissionBound(t *testing.T) {
	const n, procs = 5, 3
	policies := []ratelimit.Policy{ratelimit.PerSecond("p", 10, 40)}
	for _, c := range batchClients(t) {
		t.Run(c.name, func(t *testing.T) {
			for _, tc := range []struct {
				name  string
				batch int
				want  int
			}{
				{"exact", 0, 40},
				{"batch_of_1_is_exact", 1, 40},
				{"batch_of_5", n, 40 + (n-1)*procs},
			} {
				t.Run(tc.name, func(t *testing.T) {
					var clock storetest.Clock
					ps := processes(t, c.client, procs, redisstore.Config{TokenBatch: tc.batch, TokenBatchExpiry: time.Hour}, &clock)
					for i, p := range ps {
						if r := take(t, p, policies, 1); !r.Allowed {
							t.Fatalf("process %d: first request refused: %+v", i, r)
						}
					}
					clock.Advance(1500 * time.Millisecond) // 15 tokens: full again
					if got := flood(t, ps, policies); got != tc.want {
						t.Errorf("allowed %d in one instant after the refill, want %d", got, tc.want)
					}
					// The 429 comes from the shared bucket: empty, one token in 100ms.
					r := take(t, ps[0], policies, 1)
					if r.Allowed || r.RetryAfter != 100*time.Millisecond || r.Remaining != 0 {
						t.Errorf("after the flood: got %+v, want refused, Retry-After 100ms, 0 left", r)
					}
				})
			}
		})
	}
}

// The bound, over every window of a long random run: three processes, a
// hot caller, random clock steps (batches expire and go back, the bucket
// refills). For any two admitted requests at times a ≤ b, the requests
// admitted in [a, b] never exceed Burst + the tokens refilled in b-a +
// (TokenBatch-1) × processes; the exact store never exceeds the first two.
func TestTokenBatchOverAdmissionBoundRandom(t *testing.T) {
	const n, procs, burst = 5, 3, 20
	policies := []ratelimit.Policy{ratelimit.PerSecond("p", 10, burst)}
	interval := policies[0].Interval()
	for _, tc := range []struct {
		name  string
		batch int
		extra int
	}{
		{"exact", 0, 0},
		{"batch_of_5", n, (n - 1) * procs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var clock storetest.Clock
			ps := processes(t, redistest.Client(t), procs, redisstore.Config{TokenBatch: tc.batch, TokenBatchExpiry: 300 * time.Millisecond}, &clock)
			rng := rand.New(rand.NewPCG(1, 2))
			steps := []time.Duration{0, 0, 0, 0, time.Millisecond, 10 * time.Millisecond, 30 * time.Millisecond, 400 * time.Millisecond}
			var times []time.Duration
			var now time.Duration
			for range 1500 {
				d := steps[rng.IntN(len(steps))]
				clock.Advance(d)
				now += d
				if take(t, ps[rng.IntN(procs)], policies, 1).Allowed {
					times = append(times, now)
				}
			}
			most := 0 // the largest excess over the exact bucket's limit seen
			for i := range times {
				for j := i; j < len(times); j++ {
					exact := burst + int((times[j]-times[i])/interval)
					got := j - i + 1
					if got > exact+tc.extra {
						t.Fatalf("%d admitted in [%v, %v], the bound is %d", got, times[i], times[j], exact+tc.extra)
					}
					most = max(most, got-exact)
				}
			}
			t.Logf("%d of 1500 admitted; at most %d beyond the exact limit in a window (bound %d)", len(times), most, tc.extra)
		})
	}
}

// RateLimit's r is never more than the caller can really get: after any
// number of requests spread over two processes, the requests the two still
// admit (clock stopped) are at least the r of the last answer. And a 429
// says when the shared bucket has the tokens.
func TestTokenBatchRemainingIsTruthful(t *testing.T) {
	policies := []ratelimit.Policy{ratelimit.PerMinute("p", 60, 20), ratelimit.PerDay("daily", 1000, 1000)}
	for _, c := range batchClients(t) {
		t.Run(c.name, func(t *testing.T) {
			for k := 1; k <= 24; k++ {
				var clock storetest.Clock
				ps := processes(t, c.client, 2, redisstore.Config{TokenBatch: 8}, &clock)
				var last ratelimit.Result
				admitted := 0
				for i := range k {
					if last = take(t, ps[i%2], policies, 1); last.Allowed {
						admitted++
					}
				}
				left := flood(t, ps, policies)
				if last.Allowed && last.Remaining > int64(left) {
					t.Errorf("after %d requests: r=%d, but only %d more were admitted", k, last.Remaining, left)
				}
				if !last.Allowed && last.Remaining != 0 {
					t.Errorf("after %d requests: refused with r=%d", k, last.Remaining)
				}
				// A request may be refused while the other process holds
				// tokens (429s are the shared bucket's), but no token is
				// lost or spent twice.
				if admitted+left != 20 {
					t.Errorf("after %d requests: %d admitted, then %d more: want 20 in all (no refill)", k, admitted, left)
				}
				r := take(t, ps[k%2], policies, 1)
				if r.Allowed || r.RetryAfter != time.Second || policies[r.Policy].Name != "p" {
					t.Errorf("after %d requests and a flood: got %+v, want a 429 of policy p in 1s", k, r)
				}
			}
		})
	}
}

// Unspent tokens go back to the shared bucket when the batch expires (with
// the caller's next decision) and on Close.
func TestTokenBatchGivesBack(t *testing.T) {
	hourly := []ratelimit.Policy{{Name: "h", Rate: 1, Period: time.Hour, Burst: 20}}
	c := redistest.Client(t)
	var clock storetest.Clock
	cfg := redisstore.Config{TokenBatch: 10, TokenBatchExpiry: time.Second, Prefix: redistest.Prefix(t), Now: clock.Now, Timeout: storeTimeout}
	a, err := redisstore.New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	exact := newStore(t, c, redisstore.Config{Prefix: cfg.Prefix, Now: clock.Now})
	shared := func() int64 { return take(t, exact, hourly, 0).Remaining }

	if r := take(t, a, hourly, 1); !r.Allowed || r.Remaining != 19 {
		t.Fatalf("first: got %+v, want allowed, r=19 (10 in Redis, 9 held)", r)
	}
	if got := shared(); got != 10 {
		t.Fatalf("shared bucket: %d left, want 10 (a grant of 10)", got)
	}
	if r := take(t, a, hourly, 1); !r.Allowed || r.Remaining != 8 {
		t.Fatalf("second, local: got %+v, want allowed, r=8 (what the process holds)", r)
	}
	clock.Advance(time.Second) // expired
	if r := take(t, a, hourly, 0); !r.Allowed {
		t.Fatalf("cost 0 after the expiry: got %+v", r)
	}
	if got := shared(); got != 18 {
		t.Errorf("after the expiry: %d left, want 18 (the 8 unspent given back)", got)
	}
	if r := take(t, a, hourly, 1); !r.Allowed {
		t.Fatalf("third: got %+v", r)
	}
	if got := shared(); got != 9 {
		t.Fatalf("after a new grant of 9: %d left, want 9", got)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if got := shared(); got != 17 {
		t.Errorf("after Close: %d left, want 17 (20 less the 3 spent)", got)
	}
}

// Fairness and round trips, measured: two processes serve one hot caller
// (10/s, burst 20) for 20 s of clock in 10 ms steps, each process half the
// requests, in an order drawn at random. Under the limit (8/s offered) the
// batches save round trips and refuse nothing; far over it (200/s) the
// shared bucket is nearly empty, grants shrink to the request's cost, and
// every refusal is a round trip: the batches change neither the total nor
// the shares. Each process gets at least 40% of what is admitted, the
// total stays within the bound, and the log shows the round trips per
// decision.
func TestTokenBatchFairness(t *testing.T) {
	policies := []ratelimit.Policy{ratelimit.PerSecond("p", 10, 20)}
	for _, load := range []struct {
		name  string
		every int // a request per process every this many 10 ms steps
		min   int // the least total admitted
	}{
		{"under_the_limit_8_per_s", 25, 160},
		{"far_over_the_limit_200_per_s", 0, 215},
	} {
		for _, batch := range []int{0, 5, 20} {
			var calls atomic.Int64
			c := redistest.Client(t)
			c.AddHook(countHook{&calls})
			var clock storetest.Clock
			ps := processes(t, c, 2, redisstore.Config{TokenBatch: batch, MaxBatch: 1, TokenBatchExpiry: 500 * time.Millisecond}, &clock)
			rng := rand.New(rand.NewPCG(3, 4))
			var got [2]int
			decisions := 0
			for step := range 2000 {
				clock.Advance(10 * time.Millisecond)
				if load.every > 0 && step%load.every != 0 {
					continue
				}
				first := rng.IntN(2)
				for j := range 2 {
					i := (first + j) % 2
					decisions++
					if take(t, ps[i], policies, 1).Allowed {
						got[i]++
					}
				}
			}
			total := got[0] + got[1]
			t.Logf("%s, TokenBatch %2d: admitted %d + %d = %d of %d; Redis commands per decision %.2f",
				load.name, batch, got[0], got[1], total, decisions, float64(calls.Load())/float64(decisions))
			if limit := 20 + 200 + max(batch-1, 0)*2; total > limit || total < load.min {
				t.Errorf("%s, TokenBatch %d: %d admitted, want %d to %d", load.name, batch, total, load.min, limit)
			}
			if got[0] < total*2/5 || got[1] < total*2/5 {
				t.Errorf("%s, TokenBatch %d: shares %d and %d, want each at least 40%%", load.name, batch, got[0], got[1])
			}
		}
	}
}

// countHook counts the commands sent to Redis.
type countHook struct{ n *atomic.Int64 }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}

func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(int64(len(cmds))); return next(ctx, cmds) }
}

// Many goroutines in two processes, clock stopped: every token is spent
// once or given back at Close, never twice, whatever the interleaving.
func TestTokenBatchConcurrentTakes(t *testing.T) {
	policies := []ratelimit.Policy{ratelimit.PerMinute("p", 60, 100), ratelimit.PerDay("daily", 150, 150)}
	c := redistest.Client(t)
	var clock storetest.Clock
	ps := processes(t, c, 2, redisstore.Config{TokenBatch: 20, TokenBatchExpiry: time.Hour}, &clock)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for range 20 {
				r, err := ps[i%2].Take(context.Background(), "hot", policies, 1)
				if err != nil {
					t.Error(err)
					return
				}
				if r.Allowed {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	for _, p := range ps {
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
	exact := newStore(t, c, redisstore.Config{Prefix: prefixOf(ps[0]), Now: clock.Now})
	left := take(t, exact, policies[:1], 0).Remaining
	if got := admitted.Load(); got > 100 || got+left != 100 {
		t.Errorf("admitted %d, %d left after Close: want 100 together, at most 100 admitted", got, left)
	}
}

// prefixOf returns the key prefix of s.
func prefixOf(s *redisstore.Store) string {
	k := s.Key("x", ratelimit.Policy{})
	return k[:strings.Index(k, "{k:")]
}
