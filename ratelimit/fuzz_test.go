package ratelimit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/storetest"
)

// FuzzDecide checks the bucket math over arbitrary policies, bucket states
// and costs: results stay in range, Retry-After is exact to the nanosecond
// (a wait of RetryAfter passes, one nanosecond less does not), and a cost
// above the burst is an error, never a wait.
func FuzzDecide(f *testing.F) {
	f.Add(int64(10), int64(time.Second), int64(20), int64(0), int64(1))
	f.Add(int64(1), int64(10*time.Second), int64(1), int64(5*time.Second), int64(1))
	f.Add(int64(3), int64(time.Second), int64(3), int64(999_999_999), int64(2))
	f.Add(int64(1000), int64(24*time.Hour), int64(1000), int64(12*time.Hour), int64(1001))
	f.Add(int64(1), int64(1), int64(1<<53), int64(-5), int64(7))
	f.Fuzz(func(t *testing.T, rate, period, burst, ahead, cost int64) {
		p := ratelimit.Policy{Name: "f", Rate: rate, Period: time.Duration(period), Burst: burst}
		d, err := p.Decide(time.Duration(ahead), cost)
		if p.Validate() != nil {
			if !errors.Is(err, ratelimit.ErrInvalidPolicy) {
				t.Fatalf("invalid policy %+v: got error %v, want ErrInvalidPolicy", p, err)
			}
			return
		}
		capacity := p.Capacity()
		var ce *ratelimit.CostError
		switch {
		case cost < 0:
			if !errors.Is(err, ratelimit.ErrInvalidCost) {
				t.Fatalf("cost %d: got %v, want ErrInvalidCost", cost, err)
			}
			return
		case cost > capacity:
			if !errors.As(err, &ce) || ce.Cost != cost || ce.Burst != capacity {
				t.Fatalf("cost %d > burst %d: got %v, want a CostError", cost, capacity, err)
			}
			return
		case err != nil:
			t.Fatalf("valid request: %v", err)
		}
		refill := p.Refill()
		if d.Remaining < 0 || d.Remaining > capacity || d.ResetAfter < 0 || d.ResetAfter > refill {
			t.Fatalf("out of range: %+v (burst %d, refill %v)", d, capacity, refill)
		}
		if d.Allowed {
			if d.RetryAfter != 0 {
				t.Fatalf("allowed with RetryAfter %v", d.RetryAfter)
			}
			return
		}
		if d.RetryAfter <= 0 || d.RetryAfter > refill {
			t.Fatalf("refused with RetryAfter %v (refill %v)", d.RetryAfter, refill)
		}
		a := min(max(time.Duration(ahead), 0), refill)
		if later, _ := p.Decide(a-d.RetryAfter, cost); !later.Allowed {
			t.Fatalf("after waiting RetryAfter %v still refused: %+v", d.RetryAfter, later)
		}
		if sooner, _ := p.Decide(a-d.RetryAfter+1, cost); sooner.Allowed {
			t.Fatalf("1ns before RetryAfter %v already allowed", d.RetryAfter)
		}
	})
}

// FuzzMemoryStore drives the memory store with arbitrary keys, policy
// parameters, costs and clock steps, and compares every answer with a
// reference model built on Policy.Decide.
func FuzzMemoryStore(f *testing.F) {
	f.Add("alice", "bob", int64(10), int64(time.Second), int64(20), []byte{1, 2, 3, 200, 4, 0, 9})
	f.Add("", "\x00\xff", int64(1), int64(time.Hour), int64(3), []byte{255, 255, 0, 1})
	f.Fuzz(func(t *testing.T, k1, k2 string, rate, period, burst int64, ops []byte) {
		policies := []ratelimit.Policy{
			{Name: "fuzz", Rate: rate, Period: time.Duration(period), Burst: burst},
			ratelimit.PerSecond("second", 5, 7),
		}
		if policies[0].Validate() != nil || len(ops) > 512 {
			return
		}
		var clock storetest.Clock
		s := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{Now: clock.Now, SweepInterval: -1, MaxKeys: 1 << 20})
		defer s.Close()
		tat := map[string]time.Duration{}
		now := time.Duration(0)
		for i, op := range ops {
			if op&3 == 3 { // advance the clock
				adv := time.Duration(op) * policies[0].Refill() / 255
				clock.Advance(adv)
				now += adv
				continue
			}
			key := k1
			if op&4 != 0 {
				key = k2
			}
			ps := policies[:1+int(op>>3&1)]
			cost := int64(op>>4) % (min(policies[0].Capacity(), 7) + 1)
			ds := make([]ratelimit.Decision, len(ps))
			allowed := true
			for j, p := range ps {
				d, err := p.Decide(tat[p.Name+"\x00"+key]-now, cost)
				if err != nil {
					t.Fatal(err)
				}
				ds[j], allowed = d, allowed && d.Allowed
			}
			if allowed {
				for j, p := range ps {
					tat[p.Name+"\x00"+key] = now + ds[j].ResetAfter
				}
			}
			want := ratelimit.Combine(ds)
			got, err := s.Take(context.Background(), key, ps, cost)
			if err != nil {
				t.Fatalf("op %d: %v", i, err)
			}
			if got != want {
				t.Fatalf("op %d (key %q, cost %d):\n got %+v\nwant %+v", i, key, cost, got, want)
			}
		}
	})
}
