package ratelimit

// table is the hash table of one memory-store shard: open addressing with
// linear probing and backward-shift deletion (no tombstones), keyed by a
// hash computed once per request. It exists because a decision then costs
// one probe sequence instead of a Go map's lookup plus assignment, each
// hashing two strings; it is not safe for concurrent use (the shard's mutex
// guards it).
type table struct {
	slots []slot // len is a power of two, or 0
	n     int    // occupied slots
}

// slot is one bucket. hash 0 marks an empty slot (real hashes have bit 0
// set).
type slot struct {
	hash   uint64
	tat    int64 // theoretical arrival time, Unix ns
	key    string
	policy string
}

const minTableSize = 8

// bucketHash combines the caller key's hash with the policy name's length
// (cheap; buckets of one caller under names of equal length share a hash and
// sit next to each other, told apart by the name); bit 0 is always set so
// that 0 can mean "empty".
func bucketHash(keyHash uint64, policy string) uint64 {
	return (keyHash ^ uint64(len(policy))*0x9e3779b97f4a7c15) | 1
}

// find returns the index of the bucket (h, key, policy) and true, or the
// index of the empty slot where it belongs and false. The table must not be
// full.
func (t *table) find(h uint64, key, policy string) (int, bool) {
	if len(t.slots) == 0 {
		return -1, false
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.hash == 0 {
			return int(i), false
		}
		if s.hash == h && s.key == key && s.policy == policy {
			return int(i), true
		}
	}
}

// get returns the TAT of a bucket and whether it exists.
func (t *table) get(h uint64, key, policy string) (int64, bool) {
	i, ok := t.find(h, key, policy)
	if !ok {
		return 0, false
	}
	return t.slots[i].tat, true
}

// set stores the TAT of a bucket, growing the table when it is 3/4 full.
// It reports whether the bucket is new.
func (t *table) set(h uint64, key, policy string, tat int64) bool {
	i, ok := t.find(h, key, policy)
	if ok {
		t.slots[i].tat = tat
		return false
	}
	if (t.n+1)*4 > len(t.slots)*3 {
		t.resize(max(minTableSize, len(t.slots)*2))
		i, _ = t.find(h, key, policy)
	}
	t.slots[i] = slot{hash: h, tat: tat, key: key, policy: policy}
	t.n++
	return true
}

// resize rehashes every bucket into a table of size slots.
func (t *table) resize(size int) {
	old := t.slots
	t.slots = make([]slot, size)
	mask := uint64(size - 1)
	for _, s := range old {
		if s.hash == 0 {
			continue
		}
		i := s.hash & mask
		for t.slots[i].hash != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// deleteAt empties slot i and shifts back the entries of its probe run so
// that every remaining bucket stays reachable.
func (t *table) deleteAt(i int) {
	mask := len(t.slots) - 1
	j := i
	for {
		j = (j + 1) & mask
		if t.slots[j].hash == 0 {
			break
		}
		home := int(t.slots[j].hash) & mask
		// Entry j may move to i only if its home is not cyclically in (i, j].
		if i <= j {
			if i < home && home <= j {
				continue
			}
		} else if i < home || home <= j {
			continue
		}
		t.slots[i] = t.slots[j]
		i = j
	}
	t.slots[i] = slot{}
	t.n--
}

// sweep deletes every bucket whose TAT is at or before now and returns how
// many it deleted; it then shrinks the table when it is mostly empty.
func (t *table) sweep(now int64) int {
	deleted := 0
	for i := 0; i < len(t.slots); {
		s := &t.slots[i]
		if s.hash != 0 && s.tat <= now {
			t.deleteAt(i)
			deleted++
			continue // another bucket may have shifted into slot i
		}
		i++
	}
	if len(t.slots) > minTableSize && t.n*8 < len(t.slots) {
		size := minTableSize
		for size*3 < t.n*4*2 { // room to double before the next growth
			size *= 2
		}
		t.resize(size)
	}
	return deleted
}

// evict makes room for one new bucket: it deletes the first full bucket
// (TAT at or before now) among the 8 occupied slots from position start,
// else the one of them nearest to full.
func (t *table) evict(start uint64, now int64) {
	if t.n == 0 {
		return
	}
	mask := uint64(len(t.slots) - 1)
	victim, seen := -1, 0
	for i := start & mask; seen < 8; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.hash == 0 {
			continue
		}
		if s.tat <= now {
			t.deleteAt(int(i))
			return
		}
		if victim < 0 || s.tat < t.slots[victim].tat {
			victim = int(i)
		}
		if seen++; seen == t.n {
			break
		}
	}
	t.deleteAt(victim)
}
