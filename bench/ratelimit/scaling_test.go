package ratelimit

import (
	"context"
	"hash/maphash"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/ratelimit"
)

// BenchmarkMemoryScaling separates the costs behind BenchmarkMemoryStore's
// scaling with GOMAXPROCS (run it with -cpu 1,2,4):
//
//   - shared: BenchmarkMemoryStore's pattern, every goroutine walking the same
//     10,000 keys, so every decision reads a bucket last written by another
//     CPU;
//   - shared-cost0: the same walk with cost 0 (a decision that writes no
//     bucket): what is left is the shard lock;
//   - disjoint: the same 10,000 keys dealt out between the goroutines, so
//     that no caller's bucket is shared between CPUs: the case a sharded
//     store can scale;
//   - hot: one key for everyone, which no store can scale: its decisions
//     are serial by definition.
func BenchmarkMemoryScaling(b *testing.B) {
	policies := []ratelimit.Policy{ratelimit.PerSecond("default", 100, 200)}
	ctx := context.Background()
	shared := keys("ip:10.0.")
	run := func(b *testing.B, cost int64, keysFor func(g int) []string) {
		s := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{})
		defer s.Close()
		var seed atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		defer measureCPU(b)()
		b.RunParallel(func(pb *testing.PB) {
			g := int(seed.Add(1))
			ks := keysFor(g)
			i := g * 7919
			for pb.Next() {
				i++
				if _, err := s.Take(ctx, ks[i%len(ks)], policies, cost); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("shared", func(b *testing.B) {
		run(b, 1, func(int) []string { return shared })
	})
	b.Run("shared-cost0", func(b *testing.B) {
		run(b, 0, func(int) []string { return shared })
	})
	b.Run("disjoint", func(b *testing.B) {
		// The same 10,000 keys, dealt out: goroutine g of P walks the keys
		// with index ≡ g (mod P), so the table and the working set are the
		// same at every P and only the sharing between CPUs changes.
		p := runtime.GOMAXPROCS(0)
		own := make([][]string, p)
		for i, k := range shared {
			own[i%p] = append(own[i%p], k)
		}
		run(b, 1, func(g int) []string { return own[g%p] })
	})
	b.Run("hot", func(b *testing.B) {
		hot := []string{"ip:10.0.0.1"}
		run(b, 1, func(int) []string { return hot })
	})
}

// BenchmarkCacheLine measures what moving one cache line between CPUs costs
// on this machine: an atomic add on one counter all goroutines share, against
// one counter per goroutine on its own cache line.
func BenchmarkCacheLine(b *testing.B) {
	type padded struct {
		n atomic.Int64
		_ [56]byte
	}
	b.Run("shared", func(b *testing.B) {
		var c padded
		defer measureCPU(b)()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.n.Add(1)
			}
		})
	})
	b.Run("padded", func(b *testing.B) {
		cs := make([]padded, 64)
		var seed atomic.Int64
		defer measureCPU(b)()
		b.RunParallel(func(pb *testing.PB) {
			c := &cs[seed.Add(1)%64]
			for pb.Next() {
				c.n.Add(1)
			}
		})
	})
}

// BenchmarkMachineScaling measures how this machine itself scales with
// GOMAXPROCS on work that shares no memory: reading the clock (which a
// decision does once) and hashing a key (likewise). Whatever ratio these
// reach at -cpu 2 is the ceiling for any store.
func BenchmarkMachineScaling(b *testing.B) {
	b.Run("clock", func(b *testing.B) {
		defer measureCPU(b)()
		b.RunParallel(func(pb *testing.PB) {
			var sink int64
			for pb.Next() {
				sink += time.Now().UnixNano()
			}
			_ = sink
		})
	})
	b.Run("hash", func(b *testing.B) {
		ks := keys("ip:10.0.")
		seed := maphash.MakeSeed()
		defer measureCPU(b)()
		b.RunParallel(func(pb *testing.PB) {
			var sink uint64
			i := 0
			for pb.Next() {
				i++
				sink += maphash.String(seed, ks[i%len(ks)])
			}
			_ = sink
		})
	})
}

// BenchmarkBucketTraffic is a model of a decision's memory traffic, not
// apiguard code: 10,000 buckets of one cache line each, found through a
// read-only map and laid out in random order, their TAT updated either under one of 16 shard mutexes (as
// MemoryStore does) or by compare-and-swap with no lock (the design a
// lock-free hit path would have). With -cpu 1,2 it shows how much of the
// store's loss at two CPUs the shard lock's cache line causes, for keys
// shared between CPUs and for keys dealt out between them.
func BenchmarkBucketTraffic(b *testing.B) {
	type bucket struct {
		tat atomic.Int64
		_   [56]byte
	}
	type lock struct {
		mu sync.Mutex
		_  [56]byte
	}
	const t, tau = int64(10 * time.Millisecond), int64(2 * time.Second) // 100/s, burst 200
	ks := keys("ip:10.0.")
	// Buckets sit in a random order, as in a hash table (a walk in address
	// order would let the hardware prefetcher hide the transfers), and the
	// lock of bucket j is chosen by a hash of j, as a shard is.
	idx := make(map[string]int, len(ks))
	for i, j := range rand.New(rand.NewPCG(1, 2)).Perm(len(ks)) {
		idx[ks[i]] = j
	}
	decide := func(old, now int64) (int64, bool) {
		ahead := max(old-now, 0)
		if ahead > tau-t {
			return old, false
		}
		return now + ahead + t, true
	}
	for _, locked := range []bool{true, false} {
		for _, disjoint := range []bool{false, true} {
			name := map[bool]string{true: "mutex", false: "cas"}[locked] + "/" + map[bool]string{true: "disjoint", false: "shared"}[disjoint]
			b.Run(name, func(b *testing.B) {
				buckets := make([]bucket, len(ks))
				locks := make([]lock, 16)
				p := runtime.GOMAXPROCS(0)
				start := time.Now()
				var seed atomic.Int64
				defer measureCPU(b)()
				b.RunParallel(func(pb *testing.PB) {
					g := int(seed.Add(1))
					i := g * 7919
					for pb.Next() {
						i++
						if disjoint {
							i += (g - i%p + p) % p // only keys ≡ g (mod P)
						}
						j := idx[ks[i%len(ks)]]
						now := int64(time.Since(start))
						bk := &buckets[j]
						if locked {
							l := &locks[uint64(j)*0x9e3779b97f4a7c15>>60]
							l.mu.Lock()
							if n, ok := decide(bk.tat.Load(), now); ok {
								bk.tat.Store(n)
							}
							l.mu.Unlock()
							continue
						}
						for {
							old := bk.tat.Load()
							n, ok := decide(old, now)
							if !ok || bk.tat.CompareAndSwap(old, n) {
								break
							}
						}
					}
				})
			})
		}
	}
}
