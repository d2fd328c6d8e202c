package ratelimit

import (
	"context"
	"testing"
	"time"
)

func (s *MemoryConcurrencyStore) keys() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.slots)
		sh.mu.Unlock()
	}
	return n
}

// A caller's entry lives only while it has slots: released keys and keys
// whose slots all expired (once used again, or renewed) leave nothing.
func TestMemoryConcurrencyStoreForgetsIdleKeys(t *testing.T) {
	now := time.Unix(1_767_225_600, 0)
	s := NewMemoryConcurrencyStore(MemoryConcurrencyConfig{Now: func() time.Time { return now }})
	ctx := context.Background()
	var tokens []string
	for _, key := range []string{"a", "b", "c"} {
		for range 2 {
			res, err := s.Acquire(ctx, key, 2, time.Second)
			if err != nil || !res.Acquired {
				t.Fatal(res, err)
			}
			tokens = append(tokens, res.Token)
		}
	}
	if n := s.keys(); n != 3 {
		t.Fatalf("got %d keys, want 3", n)
	}
	for i, key := range []string{"a", "a"} {
		if err := s.Release(ctx, key, tokens[i]); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.keys(); n != 2 {
		t.Fatalf("after releasing a's slots: got %d keys, want 2", n)
	}
	now = now.Add(time.Second)
	if err := s.Renew(ctx, "b", tokens[2], time.Second); err != ErrSlotLost {
		t.Fatalf("got %v, want ErrSlotLost", err)
	}
	if n := s.keys(); n != 1 {
		t.Fatalf("after b's slots expired: got %d keys, want 1", n)
	}
}
