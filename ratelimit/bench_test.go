package ratelimit_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/clipia/apiguard/ratelimit"
)

// BenchmarkMemoryTake: 10,000 callers, one policy; the comparison with
// Echo's store is in the bench module.
func BenchmarkMemoryTake(b *testing.B) {
	ks := make([]string, 10_000)
	for i := range ks {
		ks[i] = "ip:10.0." + strconv.Itoa(i)
	}
	s := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{})
	defer s.Close()
	policies := []ratelimit.Policy{ratelimit.PerSecond("default", 100, 200)}
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			if _, err := s.Take(ctx, ks[i%len(ks)], policies, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		var seed atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := int(seed.Add(7919))
			for pb.Next() {
				i++
				if _, err := s.Take(ctx, ks[i%len(ks)], policies, 1); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
