package ratelimit

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// The shard table against a Go map over random sets, sweeps and evictions,
// with hashes drawn from a tiny range so that probe runs collide and wrap.
func TestTableMatchesMap(t *testing.T) {
	for _, hashes := range []uint64{3, 64, 1 << 40} {
		t.Run(strconv.FormatUint(hashes, 10)+"_hashes", func(t *testing.T) {
			rng := rand.New(rand.NewPCG(hashes, 7))
			st := NewMemoryStore(MemoryConfig{Shards: 1, SweepInterval: -1})
			defer st.Close()
			tb := newTestTable(st.m)
			ref := map[string]int64{}
			hashOf := func(k string) uint64 {
				n, _ := strconv.Atoi(k)
				return uint64(n) % hashes
			}
			now := int64(0)
			for op := range 20_000 {
				k := strconv.Itoa(rng.IntN(300))
				switch r := rng.IntN(100); {
				case r < 60:
					tat := now + rng.Int64N(1000)
					tb.set(hashOf(k), k, "p", tat)
					ref[k] = tat
				case r < 62:
					now += rng.Int64N(600)
					deleted := tb.sweep(now)
					want := 0
					for rk, v := range ref {
						if v <= now {
							delete(ref, rk)
							want++
						}
					}
					if deleted != want {
						t.Fatalf("op %d: sweep deleted %d, want %d", op, deleted, want)
					}
				case r < 64 && tb.n() > 0:
					before := tb.n()
					tb.evict(rng.Uint64(), now)
					if tb.n() != before-1 {
						t.Fatalf("op %d: evict left %d of %d", op, tb.n(), before)
					}
					// Find which one went and drop it from the reference.
					for rk := range ref {
						if _, ok := tb.get(hashOf(rk), rk, "p"); !ok {
							delete(ref, rk)
						}
					}
				default:
					got, ok := tb.get(hashOf(k), k, "p")
					want, wok := ref[k]
					if ok != wok || got != want {
						t.Fatalf("op %d: get(%s) = %d, %v; want %d, %v", op, k, got, ok, want, wok)
					}
				}
				if tb.n() != len(ref) {
					t.Fatalf("op %d: table holds %d, want %d", op, tb.n(), len(ref))
				}
			}
			for rk, v := range ref {
				if got, ok := tb.get(hashOf(rk), rk, "p"); !ok || got != v {
					t.Fatalf("final: get(%s) = %d, %v; want %d", rk, got, ok, v)
				}
			}
		})
	}
}

// The same key under two policy names is two buckets.
func TestTableSeparatesPolicies(t *testing.T) {
	st := NewMemoryStore(MemoryConfig{Shards: 1, SweepInterval: -1})
	defer st.Close()
	tb := newTestTable(st.m)
	tb.setPolicy(1, "k", "a", 10)
	tb.setPolicy(1, "k", "b", 20)
	if got, _ := tb.getPolicy(1, "k", "a"); got != 10 {
		t.Fatalf("got %d for policy a, want 10", got)
	}
	if got, _ := tb.getPolicy(1, "k", "b"); got != 20 {
		t.Fatalf("got %d for policy b, want 20", got)
	}
}

// testTable drives the one shard of a memory store as a plain table: kh is
// the caller key's hash, the policy "p" unless named.
type testTable struct {
	m *memory
	s *shard
}

func newTestTable(m *memory) testTable { return testTable{m: m, s: &m.shards[0]} }

func (tt testTable) set(kh uint64, key, _ string, tat int64) { tt.setPolicy(kh, key, "p", tat) }

func (tt testTable) get(kh uint64, key, _ string) (int64, bool) { return tt.getPolicy(kh, key, "p") }

func (tt testTable) setPolicy(kh uint64, key, policy string, tat int64) {
	tt.s.mu.Lock()
	defer tt.s.mu.Unlock()
	tt.m.put(tt.s, kh, key, Policy{Name: policy, Rate: 1}, 1, 1, tat, 0)
}

func (tt testTable) getPolicy(kh uint64, key, policy string) (int64, bool) {
	b := tt.s.tab.Load().lookup(bucketHash(kh, policy), key, policy)
	if b == nil {
		return 0, false
	}
	return tt.m.dec(b.tat.Load()), true
}

func (tt testTable) sweep(now int64) int {
	tt.s.mu.Lock()
	defer tt.s.mu.Unlock()
	return tt.m.sweepShard(tt.s, now)
}

func (tt testTable) evict(start uint64, now int64) {
	tt.s.mu.Lock()
	defer tt.s.mu.Unlock()
	tt.m.evict(tt.s.tab.Load(), start, now)
}

func (tt testTable) n() int { return tt.s.tab.Load().n }
