// Package storetest is the behaviour suite every [ratelimit.Store] must pass.
// The memory store and the Redis store run it; so can any other store, or
// the Redis store against a Redis Cluster client:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, now func() time.Time) ratelimit.Store {
//			s, err := redisstore.New(client, redisstore.Config{Prefix: redistest.Prefix(t), Now: now})
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite drives time through the now function it hands to the
// constructor, so it never sleeps. It only uses fresh, unique caller keys and
// never lists or flushes keys, so stores may share a server (or a cluster)
// with other data; within one request it only touches the buckets of one
// caller key, as a Redis Cluster hash tag requires.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/ratelimit"
)

// NewStore builds a fresh store for one subtest. The store must take the
// current time from now (it is a fake clock the suite advances). The
// constructor registers any cleanup with t.
type NewStore func(t *testing.T, now func() time.Time) ratelimit.Store

// Clock is a fake clock safe for concurrent use. Its zero value reads
// 2026-01-01T00:00:00.123456789Z: a real-looking instant with a nanosecond
// part, so that stores must keep full precision.
type Clock struct{ offset atomic.Int64 }

// start is where every Clock begins.
var start = time.Unix(1_767_225_600, 123_456_789)

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return start.Add(time.Duration(c.offset.Load())) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// step is one Take of a table case: advance the clock, then take.
type step struct {
	advance time.Duration
	key     string // "" means "alice"
	only    []int  // indexes of the case's policies to use; nil means all
	cost    int64
	want    ratelimit.Result
	wantErr error // checked with errors.Is, or errors.As for *ratelimit.CostError
}

type tcase struct {
	name     string
	policies []ratelimit.Policy
	steps    []step
}

func allow(policy int, remaining int64, reset time.Duration) ratelimit.Result {
	return ratelimit.Result{Policy: policy, Decision: ratelimit.Decision{Allowed: true, Remaining: remaining, ResetAfter: reset}}
}

func refuse(policy int, remaining int64, retry, reset time.Duration) ratelimit.Result {
	return ratelimit.Result{Policy: policy, Decision: ratelimit.Decision{Remaining: remaining, RetryAfter: retry, ResetAfter: reset}}
}

var errCost = &ratelimit.CostError{}

func cases() []tcase {
	ms := time.Millisecond
	burst := tcase{name: "burst_of_20_then_refused", policies: []ratelimit.Policy{ratelimit.PerSecond("default", 10, 20)}}
	for i := int64(1); i <= 20; i++ {
		burst.steps = append(burst.steps, step{cost: 1, want: allow(0, 20-i, time.Duration(i)*100*ms)})
	}
	burst.steps = append(burst.steps,
		step{cost: 1, want: refuse(0, 0, 100*ms, 2*time.Second)},
		step{cost: 1, want: refuse(0, 0, 100*ms, 2*time.Second)},
	)
	return []tcase{
		burst,
		{
			name:     "refill_over_time",
			policies: []ratelimit.Policy{ratelimit.PerSecond("default", 10, 2)},
			steps: []step{
				{cost: 1, want: allow(0, 1, 100*ms)},
				{cost: 1, want: allow(0, 0, 200*ms)},
				{cost: 1, want: refuse(0, 0, 100*ms, 200*ms)},
				{advance: 50 * ms, cost: 1, want: refuse(0, 0, 50*ms, 150*ms)},
				{advance: 50*ms - 1, cost: 1, want: refuse(0, 0, 1, 100*ms+1)},
				{advance: 1, cost: 1, want: allow(0, 0, 200*ms)},
				{advance: time.Second, cost: 1, want: allow(0, 1, 100*ms)},
			},
		},
		{
			name:     "rate_below_one_per_second",
			policies: []ratelimit.Policy{{Name: "slow", Rate: 1, Period: 10 * time.Second, Burst: 1}},
			steps: []step{
				{cost: 1, want: allow(0, 0, 10*time.Second)},
				{cost: 1, want: refuse(0, 0, 10*time.Second, 10*time.Second)},
				{advance: 10*time.Second - 1, cost: 1, want: refuse(0, 0, 1, 1)},
				{advance: 1, cost: 1, want: allow(0, 0, 10*time.Second)},
			},
		},
		{
			name:     "cost",
			policies: []ratelimit.Policy{ratelimit.PerSecond("units", 1, 10)},
			steps: []step{
				{cost: 4, want: allow(0, 6, 4*time.Second)},
				{cost: 7, want: refuse(0, 6, time.Second, 4*time.Second)},
				{cost: 6, want: allow(0, 0, 10*time.Second)},
				{cost: 0, want: allow(0, 0, 10*time.Second)},
				{advance: 2500 * ms, cost: 0, want: allow(0, 2, 7500*ms)},
				{cost: 3, want: refuse(0, 2, 500*ms, 7500*ms)},
			},
		},
		{
			name:     "cost_zero_on_an_unknown_key_peeks",
			policies: []ratelimit.Policy{ratelimit.PerSecond("units", 1, 10)},
			steps: []step{
				{cost: 0, want: allow(0, 10, 0)},
				{cost: 0, want: allow(0, 10, 0)},
				{cost: 10, want: allow(0, 0, 10*time.Second)},
			},
		},
		{
			name:     "cost_above_burst_is_invalid_not_retry_later",
			policies: []ratelimit.Policy{ratelimit.PerSecond("units", 1, 10)},
			steps: []step{
				{cost: 11, wantErr: errCost},
				{cost: 10, want: allow(0, 0, 10*time.Second)},
				{cost: 11, wantErr: errCost},
			},
		},
		{
			name:     "negative_cost_is_invalid",
			policies: []ratelimit.Policy{ratelimit.PerSecond("units", 1, 10)},
			steps:    []step{{cost: -1, wantErr: ratelimit.ErrInvalidCost}},
		},
		{
			name:     "invalid_policy",
			policies: []ratelimit.Policy{{Name: "zero"}},
			steps:    []step{{cost: 1, wantErr: ratelimit.ErrInvalidPolicy}},
		},
		{
			name:     "keys_are_independent",
			policies: []ratelimit.Policy{ratelimit.PerSecond("default", 1, 1)},
			steps: []step{
				{key: "alice", cost: 1, want: allow(0, 0, time.Second)},
				{key: "alice", cost: 1, want: refuse(0, 0, time.Second, time.Second)},
				{key: "bob", cost: 1, want: allow(0, 0, time.Second)},
				{key: "bob", cost: 1, want: refuse(0, 0, time.Second, time.Second)},
			},
		},
		{
			name: "several_policies_all_or_nothing",
			policies: []ratelimit.Policy{
				ratelimit.PerSecond("second", 2, 2),
				{Name: "minute", Rate: 3, Period: time.Minute, Burst: 3},
			},
			steps: []step{
				{cost: 1, want: allow(0, 1, 500*ms)},
				{cost: 1, want: allow(0, 0, time.Second)},
				// Refused by "second"; "minute" would allow but is not charged.
				{cost: 1, want: refuse(0, 0, 500*ms, time.Second)},
				{advance: time.Second, cost: 1, want: allow(1, 0, 59*time.Second)},
				// Refused by "minute"; "second" is not charged.
				{advance: time.Second, cost: 1, want: refuse(1, 0, 18*time.Second, 58*time.Second)},
				{only: []int{0}, cost: 0, want: allow(0, 2, 0)},
				{advance: 18 * time.Second, cost: 1, want: allow(1, 0, 60*time.Second)},
			},
		},
		{
			name: "most_restrictive_is_reported",
			policies: []ratelimit.Policy{
				ratelimit.PerSecond("a", 10, 10),
				ratelimit.PerSecond("b", 1, 5),
				ratelimit.PerSecond("c", 1, 5),
			},
			steps: []step{
				// b and c tie (4 left, full in 1s): the first, b, is reported.
				{cost: 1, want: allow(1, 4, time.Second)},
				{only: []int{2}, cost: 1, want: allow(0, 3, 2*time.Second)},
				// Now c (3 left) is the most restrictive.
				{cost: 1, want: allow(2, 2, 3*time.Second)},
				{cost: 3, want: refuse(2, 2, time.Second, 3*time.Second)},
			},
		},
		{
			name:     "a_name_is_one_bucket_across_routes",
			policies: []ratelimit.Policy{ratelimit.PerSecond("shared", 1, 2), ratelimit.PerSecond("other", 1, 5)},
			steps: []step{
				{only: []int{0}, cost: 1, want: allow(0, 1, time.Second)},
				{cost: 1, want: allow(0, 0, 2*time.Second)},
				{only: []int{0}, cost: 1, want: refuse(0, 0, time.Second, 2*time.Second)},
			},
		},
		{
			name:     "daily_quota",
			policies: []ratelimit.Policy{ratelimit.PerDay("daily", 1000, 1000)},
			steps: []step{
				{cost: 999, want: allow(0, 1, 999*86400*ms)},
				{cost: 1, want: allow(0, 0, 24*time.Hour)},
				{cost: 1, want: refuse(0, 0, 86400*ms, 24*time.Hour)},
				{advance: 12 * time.Hour, cost: 0, want: allow(0, 500, 12*time.Hour)},
			},
		},
		{
			name:     "full_bucket_equals_no_bucket",
			policies: []ratelimit.Policy{ratelimit.PerSecond("default", 5, 5)},
			steps: []step{
				{cost: 5, want: allow(0, 0, time.Second)},
				{advance: time.Hour, cost: 0, want: allow(0, 5, 0)},
				{cost: 1, want: allow(0, 4, 200*ms)},
			},
		},
		{
			name:     "interval_rounds_down_to_the_nanosecond",
			policies: []ratelimit.Policy{{Name: "thirds", Rate: 3, Period: time.Second, Burst: 3}},
			steps: []step{
				{cost: 3, want: allow(0, 0, 999_999_999)},
				{cost: 1, want: refuse(0, 0, 333_333_333, 999_999_999)},
				{advance: 333_333_333, cost: 1, want: allow(0, 0, 999_999_999)},
			},
		},
	}
}

// Run runs the whole suite against stores built by newStore.
func Run(t *testing.T, newStore NewStore) {
	t.Helper()
	t.Run("table", func(t *testing.T) {
		for _, tc := range cases() {
			t.Run(tc.name, func(t *testing.T) {
				var clock Clock
				s := newStore(t, clock.Now)
				prefix := uniq()
				for i, st := range tc.steps {
					clock.Advance(st.advance)
					key := st.key
					if key == "" {
						key = "alice"
					}
					policies := tc.policies
					if st.only != nil {
						policies = nil
						for _, j := range st.only {
							policies = append(policies, tc.policies[j])
						}
					}
					got, err := s.Take(context.Background(), prefix+key, policies, st.cost)
					if st.wantErr != nil {
						if !matches(err, st.wantErr) {
							t.Fatalf("step %d: Take(cost %d) error = %v, want %v", i, st.cost, err, st.wantErr)
						}
						continue
					}
					if err != nil {
						t.Fatalf("step %d: Take(cost %d): %v", i, st.cost, err)
					}
					if got != st.want {
						t.Fatalf("step %d: Take(cost %d)\n got %+v\nwant %+v", i, st.cost, got, st.want)
					}
				}
			})
		}
	})
	t.Run("concurrent_takers_never_overspend", func(t *testing.T) { concurrent(t, newStore) })
	t.Run("matches_the_reference_model", func(t *testing.T) { model(t, newStore) })
	t.Run("cancelled_context_is_an_error_or_a_decision", func(t *testing.T) { cancelled(t, newStore) })
	t.Run("charge_after_the_response", func(t *testing.T) { charge(t, newStore) })
}

// charge checks [ratelimit.Charger]: a charge takes tokens unconditionally,
// may leave a bucket in debt (refusing everything, cost 0 included, until
// paid), is capped at Policy.DebtLimit and touches only the given policies'
// buckets. Stores that do not implement it skip this part.
func charge(t *testing.T, newStore NewStore) {
	var clock Clock
	s := newStore(t, clock.Now)
	ch, ok := s.(ratelimit.Charger)
	if !ok {
		t.Skip("the store does not implement ratelimit.Charger")
	}
	ctx := context.Background()
	prefix := uniq()
	units := ratelimit.PerSecond("units", 1, 10)
	day := ratelimit.PerDay("day", 100, 100)
	both := []ratelimit.Policy{units, day}
	take := func(i int, key string, ps []ratelimit.Policy, cost int64, want ratelimit.Result) {
		t.Helper()
		got, err := s.Take(ctx, prefix+key, ps, cost)
		if err != nil {
			t.Fatalf("step %d: Take: %v", i, err)
		}
		if got != want {
			t.Fatalf("step %d: Take(cost %d)\n got %+v\nwant %+v", i, cost, got, want)
		}
	}
	do := func(i int, key string, ps []ratelimit.Policy, cost int64) {
		t.Helper()
		if err := ch.Charge(ctx, prefix+key, ps, cost); err != nil {
			t.Fatalf("step %d: Charge: %v", i, err)
		}
	}
	sec := time.Second
	// Into debt: 10 taken, 5 more charged; the next request waits for 6.
	take(0, "a", both[:1], 10, allow(0, 0, 10*sec))
	do(1, "a", both[:1], 5)
	take(2, "a", both[:1], 1, refuse(0, 0, 6*sec, 15*sec))
	take(3, "a", both[:1], 0, refuse(0, 0, 5*sec, 15*sec))
	clock.Advance(5 * sec)
	take(4, "a", both[:1], 0, allow(0, 0, 10*sec))
	take(5, "a", both[:1], 1, refuse(0, 0, sec, 10*sec))
	clock.Advance(sec)
	take(6, "a", both[:1], 1, allow(0, 0, 10*sec))
	// Capped at the debt limit (2 × Refill): never more than one more Burst.
	do(7, "b", both[:1], 1_000_000)
	take(8, "b", both[:1], 1, refuse(0, 0, 11*sec, 20*sec))
	do(9, "b", both[:1], 1<<62)
	take(10, "b", both[:1], 1, refuse(0, 0, 11*sec, 20*sec))
	// Several policies, on a fresh caller; 0 and negative charge nothing.
	do(11, "c", both, 0)
	do(12, "c", both, -3)
	take(13, "c", both, 0, allow(0, 10, 0))
	do(14, "c", both, 4)
	take(15, "c", both, 1, allow(0, 5, 5*sec))
	take(16, "c", both[1:], 0, allow(0, 95, 5*864*sec))
	// Other callers are untouched.
	take(17, "d", both[:1], 1, allow(0, 9, sec))
	// An invalid policy is an error.
	if err := ch.Charge(ctx, prefix+"e", []ratelimit.Policy{{Name: "zero"}}, 1); !errors.Is(err, ratelimit.ErrInvalidPolicy) {
		t.Fatalf("Charge with an invalid policy: got %v, want ErrInvalidPolicy", err)
	}
}

func matches(err, want error) bool {
	if err == nil {
		return false
	}
	if _, ok := want.(*ratelimit.CostError); ok {
		var ce *ratelimit.CostError
		return errors.As(err, &ce)
	}
	return errors.Is(err, want)
}

var seq atomic.Int64

// uniq returns a caller-key prefix never used before by this process (nor,
// practically, by any other sharing the server).
func uniq() string {
	return fmt.Sprintf("st%d-%d-", time.Now().UnixNano(), seq.Add(1))
}

func concurrent(t *testing.T, newStore NewStore) {
	var clock Clock
	s := newStore(t, clock.Now)
	key := uniq() + "hot"
	policies := []ratelimit.Policy{ratelimit.PerSecond("default", 1, 50), ratelimit.PerMinute("minute", 600, 1000)}
	const workers, each = 8, 20
	var allowed atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				r, err := s.Take(context.Background(), key, policies, 1)
				if err != nil {
					errs <- err
					return
				}
				if r.Allowed {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Take: %v", err)
	}
	if got := allowed.Load(); got != 50 {
		t.Fatalf("%d concurrent takes at one instant: got %d allowed, want exactly the burst 50", workers*each, got)
	}
	r, err := s.Take(context.Background(), key, policies[1:], 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Remaining != 950 {
		t.Fatalf("the minute policy: got %d remaining, want 950 (refused takes must charge nothing)", r.Remaining)
	}
}

// model compares the store with a reference built on Policy.Decide over a
// random sequence of requests.
func model(t *testing.T, newStore NewStore) {
	var clock Clock
	s := newStore(t, clock.Now)
	prefix := uniq()
	rng := rand.New(rand.NewPCG(1, 2))
	sets := [][]ratelimit.Policy{
		{ratelimit.PerSecond("fast", 7, 9)},
		{ratelimit.PerSecond("fast", 7, 9), {Name: "slow", Rate: 5, Period: 3 * time.Second, Burst: 4}},
		{{Name: "odd", Rate: 13, Period: 7 * time.Second, Burst: 11}},
	}
	tat := map[string]time.Duration{} // name|key -> TAT as an offset of the clock
	now := time.Duration(0)
	for i := range 400 {
		adv := time.Duration(rng.Int64N(int64(400 * time.Millisecond)))
		clock.Advance(adv)
		now += adv
		key := fmt.Sprintf("k%d", rng.IntN(3))
		ps := sets[rng.IntN(len(sets))]
		cost := rng.Int64N(4)
		ds := make([]ratelimit.Decision, len(ps))
		allowed := true
		for j, p := range ps {
			d, err := p.Decide(tat[p.Name+"|"+key]-now, cost)
			if err != nil {
				t.Fatal(err)
			}
			ds[j] = d
			allowed = allowed && d.Allowed
		}
		if allowed {
			for j, p := range ps {
				tat[p.Name+"|"+key] = now + ds[j].ResetAfter
			}
		}
		want := ratelimit.Combine(ds)
		got, err := s.Take(context.Background(), prefix+key, ps, cost)
		if err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
		if got != want {
			t.Fatalf("op %d (key %s, cost %d, %d policies):\n got %+v\nwant %+v", i, key, cost, len(ps), got, want)
		}
	}
}

func cancelled(t *testing.T, newStore NewStore) {
	var clock Clock
	s := newStore(t, clock.Now)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := s.Take(ctx, uniq()+"c", []ratelimit.Policy{ratelimit.PerSecond("default", 1, 1)}, 1)
	if err == nil && !r.Allowed {
		t.Fatalf("a store that ignores the context must still decide: got %+v", r)
	}
}
