package ratelimit

import "sync/atomic"

// table is the hash table of one memory-store shard: open addressing with
// linear probing and backward-shift deletion (no tombstones), keyed by a
// hash computed once per request. Its slots hold pointers to buckets, so
// that a decision on an existing bucket needs no lock: it finds the bucket
// with atomic loads ([table.lookup]) and updates its TAT with a
// compare-and-swap. Everything that changes the table itself (inserts,
// deletions, sweeps, resizes) happens under the shard's mutex; a resize
// publishes a new table through the shard's atomic pointer, and a bucket is
// marked dead before it leaves the table, so that a decision still holding
// it fails its compare-and-swap and retries under the lock.
//
// A lock-free lookup that races with a deletion's backward shift may miss a
// bucket that exists; it then falls back to the locked path, which sees the
// table as it is.
type table struct {
	slots []slot // len is a power of two, or 0
	n     int    // occupied slots; changed under the shard lock
}

// slot is one place of the table: the bucket's hash, kept inline so that a
// probe passes other buckets without loading them (0 means empty), and the
// bucket. Writers set b before hash and clear hash before b; a reader that
// sees them out of step finds nothing and decides under the lock.
type slot struct {
	hash atomic.Uint64
	b    atomic.Pointer[bucket]
}

func (s *slot) load() *bucket {
	if s.hash.Load() == 0 {
		return nil
	}
	return s.b.Load()
}

func (s *slot) store(b *bucket) {
	if b == nil {
		s.hash.Store(0)
		s.b.Store(nil)
		return
	}
	s.b.Store(b)
	s.hash.Store(b.hash)
}

// bucket is one caller's bucket of one policy. hash, key, policy and the
// cached parameters never change after it is published; tat does, by
// compare-and-swap.
type bucket struct {
	hash   uint64
	key    string
	policy string
	// tat is the theoretical arrival time, encoded (see memory.enc): a
	// value in [0, lockBit), lockBit set while a several-policy decision
	// holds the bucket under the shard lock, deadTAT once it is deleted.
	tat atomic.Int64
	// The parameters of the policy that created the bucket, sparing the
	// division of Policy.params on the hot path.
	rate, period, burst int64
	t, tau              int64
}

const (
	// lockBit marks a bucket held by a several-policy decision (under the
	// shard lock); a lock-free decision that sees it takes the lock.
	lockBit = int64(1) << 62
	// deadTAT marks a bucket deleted from the table.
	deadTAT = int64(-1)
)

// params returns the emission interval and tolerance of p, from the
// bucket's cache when p is the policy that created it.
func (b *bucket) params(p Policy) (t, tau int64, err error) {
	if b.rate == p.Rate && b.period == int64(p.Period) && b.burst == p.Burst {
		return b.t, b.tau, nil
	}
	return p.params()
}

const minTableSize = 8

// bucketHash combines the caller key's hash with the policy name's length
// (cheap; buckets of one caller under names of equal length share a hash and
// sit next to each other, told apart by the name); bit 0 is always set so
// that 0 can mean "empty".
func bucketHash(keyHash uint64, policy string) uint64 {
	return (keyHash ^ uint64(len(policy))*0x9e3779b97f4a7c15) | 1
}

// lookup returns the bucket (h, key, policy), or nil. It takes no lock and
// may be called on a table other goroutines change under the shard lock.
func (t *table) lookup(h uint64, key, policy string) *bucket {
	if t == nil || len(t.slots) == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i, n := h&mask, 0; n < len(t.slots); i, n = (i+1)&mask, n+1 {
		sl := &t.slots[i]
		sh := sl.hash.Load()
		if sh == 0 {
			return nil
		}
		if sh == h {
			if b := sl.b.Load(); b != nil && b.hash == h && b.key == key && b.policy == policy {
				return b
			}
		}
	}
	return nil
}

// find returns the index of the bucket (h, key, policy) and the bucket, or
// the index of the empty slot where it belongs and nil. The table must not
// be full. Under the shard lock only.
func (t *table) find(h uint64, key, policy string) (int, *bucket) {
	if len(t.slots) == 0 {
		return -1, nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		b := t.slots[i].load()
		if b == nil {
			return int(i), nil
		}
		if b.hash == h && b.key == key && b.policy == policy {
			return int(i), b
		}
	}
}

// resized returns a new table of size slots holding t's buckets.
func (t *table) resized(size int) *table {
	nt := &table{slots: make([]slot, size), n: t.n}
	mask := uint64(size - 1)
	for i := range t.slots {
		b := t.slots[i].load()
		if b == nil {
			continue
		}
		j := b.hash & mask
		for nt.slots[j].load() != nil {
			j = (j + 1) & mask
		}
		nt.slots[j].store(b)
	}
	return nt
}

// deleteAt empties slot i and shifts back the entries of its probe run so
// that every remaining bucket stays reachable. The bucket in slot i must
// already be marked dead. Under the shard lock only.
func (t *table) deleteAt(i int) {
	mask := len(t.slots) - 1
	j := i
	for {
		j = (j + 1) & mask
		bj := t.slots[j].load()
		if bj == nil {
			break
		}
		home := int(bj.hash) & mask
		// Entry j may move to i only if its home is not cyclically in (i, j].
		if i <= j {
			if i < home && home <= j {
				continue
			}
		} else if i < home || home <= j {
			continue
		}
		t.slots[i].store(bj)
		i = j
	}
	t.slots[i].store(nil)
	t.n--
}
