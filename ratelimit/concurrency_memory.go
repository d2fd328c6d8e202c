package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryConcurrencyConfig configures [NewMemoryConcurrencyStore]. The zero
// value is valid.
type MemoryConcurrencyConfig struct {
	// Now is the clock that leases are measured on. Nil means the system
	// clock; tests pass a fake one so that leases end without sleeping.
	Now func() time.Time

	// Shards is the number of independently locked parts, rounded up to a
	// power of two. Zero means 8 × GOMAXPROCS, at least 16.
	Shards int
}

// MemoryConcurrencyStore is the in-memory [ConcurrencyStore]: per caller
// key, a short list of slots (a token and the end of its lease), in a hash
// table sharded by key, each shard behind its own mutex. A key's entry is
// deleted when its last slot is released; expired slots are dropped when
// the key is next used, so memory is bounded by the slots in flight plus
// the keys of slots never released (none, when every Acquire is followed by
// a Release, as the guard does). About 100 bytes per caller key with
// requests in flight.
//
// Slots are per process: several server instances need the Redis store
// (redisstore.NewConcurrency). Tokens are decimal sequence numbers. A
// MemoryConcurrencyStore is safe for concurrent use and needs no Close.
type MemoryConcurrencyStore struct {
	now    func() time.Time
	seed   maphash.Seed
	seq    atomic.Uint64
	mask   uint64
	shards []concShard
}

type concShard struct {
	mu    sync.Mutex
	slots map[string][]concMemSlot
	_     [40]byte // keep shards on separate cache lines
}

type concMemSlot struct {
	token uint64
	until int64 // end of the lease, Unix ns
}

var _ ConcurrencyStore = (*MemoryConcurrencyStore)(nil)

// NewMemoryConcurrencyStore returns an empty in-memory concurrency store.
func NewMemoryConcurrencyStore(cfg MemoryConcurrencyConfig) *MemoryConcurrencyStore {
	n := cfg.Shards
	if n <= 0 {
		n = max(8*runtime.GOMAXPROCS(0), 16)
	}
	p := 1
	for p < n {
		p <<= 1
	}
	s := &MemoryConcurrencyStore{now: cfg.Now, seed: maphash.MakeSeed(), mask: uint64(p - 1), shards: make([]concShard, p)}
	if s.now == nil {
		s.now = time.Now
	}
	for i := range s.shards {
		s.shards[i].slots = make(map[string][]concMemSlot)
	}
	return s
}

func (s *MemoryConcurrencyStore) shard(key string) *concShard {
	return &s.shards[maphash.String(s.seed, key)&s.mask]
}

// concLive drops the expired slots of list in place and returns the rest.
func concLive(list []concMemSlot, now int64) []concMemSlot {
	out := list[:0]
	for _, sl := range list {
		if sl.until > now {
			out = append(out, sl)
		}
	}
	clear(list[len(out):])
	return out
}

// Acquire implements [ConcurrencyStore].
func (s *MemoryConcurrencyStore) Acquire(ctx context.Context, key string, limit int64, lease time.Duration) (ConcurrencyResult, error) {
	if err := ctx.Err(); err != nil {
		return ConcurrencyResult{}, err
	}
	if limit < 1 || lease <= 0 {
		return ConcurrencyResult{}, fmt.Errorf("%w: concurrency limit %d, lease %v", ErrInvalidPolicy, limit, lease)
	}
	now := s.now().UnixNano()
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	list := concLive(sh.slots[key], now)
	if int64(len(list)) >= limit {
		sh.slots[key] = list
		return ConcurrencyResult{InFlight: int64(len(list))}, nil
	}
	tok := s.seq.Add(1)
	list = append(list, concMemSlot{token: tok, until: now + int64(lease)})
	sh.slots[key] = list
	return ConcurrencyResult{Acquired: true, Token: strconv.FormatUint(tok, 10), InFlight: int64(len(list))}, nil
}

// Renew implements [ConcurrencyStore].
func (s *MemoryConcurrencyStore) Renew(ctx context.Context, key, token string, lease time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tok, err := strconv.ParseUint(token, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: not a token of this store", ErrSlotLost)
	}
	now := s.now().UnixNano()
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	list := concLive(sh.slots[key], now)
	s.store(sh, key, list)
	for i := range list {
		if list[i].token == tok {
			list[i].until = now + int64(lease)
			return nil
		}
	}
	return ErrSlotLost
}

// Release implements [ConcurrencyStore].
func (s *MemoryConcurrencyStore) Release(ctx context.Context, key, token string) error {
	tok, err := strconv.ParseUint(token, 10, 64)
	if err != nil {
		return nil // never ours: nothing to free
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	list := sh.slots[key]
	for i := range list {
		if list[i].token == tok {
			last := len(list) - 1
			list[i] = list[last]
			list[last] = concMemSlot{}
			s.store(sh, key, list[:last])
			return nil
		}
	}
	return nil
}

// store keeps list as the slots of key, deleting the key when it is empty.
func (s *MemoryConcurrencyStore) store(sh *concShard, key string, list []concMemSlot) {
	if len(list) == 0 {
		delete(sh.slots, key)
		return
	}
	sh.slots[key] = list
}
