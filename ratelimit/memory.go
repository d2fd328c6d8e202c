package ratelimit

import (
	"context"
	"errors"
	"hash/maphash"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryConfig configures [NewMemoryStore]. The zero value is valid.
type MemoryConfig struct {
	// Now is the clock. Nil means the monotonic system clock; tests pass a
	// fake one so that buckets refill without sleeping.
	Now func() time.Time

	// MaxKeys bounds the number of buckets kept (one per policy name and
	// caller key), so that a flood of distinct callers cannot exhaust
	// memory. It is enforced per shard (MaxKeys/shards each, rounded up).
	// When a shard is at its bound, a new bucket replaces a bucket that is
	// already full if a sample of 8 holds one, else the sampled bucket
	// nearest to full; that caller's bucket thereby reverts to full, which
	// errs on the side of allowing. Zero means unbounded (full buckets are
	// still swept).
	MaxKeys int

	// Shards is the number of independently locked parts, rounded up to a
	// power of two. Zero means 8 × GOMAXPROCS, at least 16.
	Shards int

	// SweepInterval is how often the sweeper deletes full buckets. Zero
	// means one minute; negative disables the sweeper goroutine (full
	// buckets are then only replaced under MaxKeys pressure).
	SweepInterval time.Duration
}

// MemoryStore is the in-memory [Store]: buckets live in a sharded hash
// table. A decision on a caller's existing bucket with a single policy
// takes no lock: it finds the bucket with atomic loads and updates it by
// compare-and-swap, so CPUs deciding at once do not queue on a shard's
// mutex; creating, deleting and resizing, and decisions over several
// policies (all or nothing), take the shard's mutex. A decision allocates
// nothing except one small object for a new bucket. A bucket is deleted
// once it is full again (a full bucket equals no bucket): by one sweeper
// goroutine, which [MemoryStore.Close] stops, or by a new bucket that needs
// its room under MaxKeys. About 150 bytes per live bucket, its key string
// included.
//
// Buckets are per process: several server instances need the Redis store.
// A MemoryStore is safe for concurrent use. If it is dropped without Close,
// its sweeper stops once the store is garbage collected.
type MemoryStore struct {
	m *memory
}

type memory struct {
	shards      []shard
	mask        uint64
	seed        maphash.Seed
	now         func() time.Time
	start       time.Time
	startNs     int64
	base        int64 // TATs are stored as tat-base (see enc)
	maxPerShard int
	closed      atomic.Bool
	stop        chan struct{}
	done        chan struct{}
	closeOnce   sync.Once
}

type shard struct {
	mu  sync.Mutex
	tab atomic.Pointer[table] // replaced, under mu, when the table is resized
	_   [48]byte              // keep shards on separate cache lines
}

// ErrClosed is returned by a MemoryStore's Take after Close.
var ErrClosed = errors.New("ratelimit: store closed")

// NewMemoryStore returns an in-memory store configured by cfg.
func NewMemoryStore(cfg MemoryConfig) *MemoryStore {
	n := cfg.Shards
	if n <= 0 {
		n = max(16, 8*runtime.GOMAXPROCS(0))
	}
	size := 1
	for size < n {
		size <<= 1
	}
	m := &memory{
		shards: make([]shard, size),
		mask:   uint64(size - 1),
		seed:   maphash.MakeSeed(),
		now:    cfg.Now,
		start:  time.Now(),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	m.startNs = m.start.UnixNano()
	m.base = m.nowNs() - 1<<61
	for i := range m.shards {
		m.shards[i].tab.Store(&table{})
	}
	if cfg.MaxKeys > 0 {
		m.maxPerShard = (cfg.MaxKeys + size - 1) / size
	}
	s := &MemoryStore{m: m}
	interval := cfg.SweepInterval
	if interval == 0 {
		interval = time.Minute
	}
	if interval > 0 {
		go m.sweeper(interval)
		runtime.AddCleanup(s, func(m *memory) { m.close() }, m)
	} else {
		close(m.done)
	}
	return s
}

// nowNs returns the current time in Unix nanoseconds.
func (m *memory) nowNs() int64 {
	if m.now != nil {
		return m.now().UnixNano()
	}
	return m.startNs + int64(time.Since(m.start))
}

// Take implements [Store]. ctx is not used: the decision never waits.
func (s *MemoryStore) Take(_ context.Context, key string, policies []Policy, cost int64) (Result, error) {
	return s.m.take(key, policies, cost)
}

// Name returns "memory", the store's name in apiguard's telemetry (the
// apiguard.store attribute).
func (s *MemoryStore) Name() string { return "memory" }

// Charge implements [Charger]: it takes cost more tokens from each of key's
// buckets of policies, letting them go into debt (at most
// [Policy.DebtLimit]). ctx is not used.
func (s *MemoryStore) Charge(_ context.Context, key string, policies []Policy, cost int64) error {
	return s.m.charge(key, policies, cost)
}

// Len returns the number of buckets held, full ones not yet swept included.
func (s *MemoryStore) Len() int { return s.m.len() }

// Sweep deletes every full bucket now, shard by shard, and returns how many
// it deleted. The sweeper goroutine calls it periodically; call it directly
// to reclaim memory at a moment of your choosing. A shard's table that is
// mostly empty afterwards is shrunk, so the memory goes back to the runtime.
func (s *MemoryStore) Sweep() int { return s.m.sweep() }

// Close stops the sweeper goroutine and waits for it to exit. Take then
// returns [ErrClosed]. Close is idempotent and always returns nil.
func (s *MemoryStore) Close() error {
	s.m.close()
	<-s.m.done
	return nil
}

// maxInline is the number of policies a decision handles without
// allocating.
const maxInline = 4

// enc encodes a TAT for bucket.tat: tat-base, which lies in [0, lockBit)
// for every TAT within 73 years of the store's creation (clamped beyond).
func (m *memory) enc(tat int64) int64 {
	v := tat - m.base
	if v < 0 {
		return 0
	}
	return min(v, lockBit-1)
}

// dec decodes an encoded TAT (without lockBit).
func (m *memory) dec(v int64) int64 { return v + m.base }

// newBucket returns a bucket of policy p (whose parameters t, tau are
// valid) holding the TAT tat.
func (m *memory) newBucket(h uint64, key string, p Policy, t, tau, tat int64) *bucket {
	b := &bucket{hash: h, key: key, policy: p.NameOrDefault(), rate: p.Rate, period: int64(p.Period), burst: p.Burst, t: t, tau: tau}
	b.tat.Store(m.enc(tat))
	return b
}

func (m *memory) take(key string, policies []Policy, cost int64) (Result, error) {
	if m.closed.Load() {
		return Result{}, ErrClosed
	}
	if len(policies) == 1 {
		return m.takeOne(key, policies[0], cost)
	}
	var pbuf [maxInline][2]int64
	params := pbuf[:0]
	if len(policies) > maxInline {
		params = make([][2]int64, 0, len(policies))
	}
	if len(policies) == 0 {
		return Result{}, CheckRequest(policies, cost)
	}
	for _, p := range policies {
		t, tau, err := p.params()
		if err == nil {
			err = checkCost(p, p.Capacity(), cost)
		}
		if err != nil {
			return Result{}, err
		}
		params = append(params, [2]int64{t, tau})
	}
	var buf [maxInline]Decision
	ds := buf[:0]
	var bbuf [maxInline]*bucket
	bs := bbuf[:0]
	var obuf [maxInline]int64
	olds := obuf[:0]
	if len(policies) > maxInline {
		ds = make([]Decision, 0, len(policies))
		bs = make([]*bucket, 0, len(policies))
		olds = make([]int64, 0, len(policies))
	}
	kh := maphash.String(m.seed, key)
	s := &m.shards[(kh>>32)&m.mask]
	now := m.nowNs()
	s.mu.Lock()
	tab := s.tab.Load()
	allowed := true
	for i, p := range policies {
		t, tau := params[i][0], params[i][1]
		name := p.NameOrDefault()
		var ahead, old int64
		b := tab.lookup(bucketHash(kh, name), key, name)
		if b != nil {
			old = hold(b)
			ahead = m.dec(old) - now
		}
		d := decide(t, tau, ahead, cost)
		allowed = allowed && d.Allowed
		ds = append(ds, d)
		bs = append(bs, b)
		olds = append(olds, old)
	}
	write := allowed && cost > 0
	// Release the held buckets first (no eviction may see one held), then
	// create the missing ones.
	for i, b := range bs {
		if b == nil {
			continue
		}
		if write {
			b.tat.Store(m.enc(now + int64(ds[i].ResetAfter)))
		} else {
			b.tat.Store(olds[i])
		}
	}
	if write {
		for i, p := range policies {
			if bs[i] == nil {
				m.put(s, kh, key, p, params[i][0], params[i][1], now+int64(ds[i].ResetAfter), now)
			}
		}
	}
	s.mu.Unlock()
	return Combine(ds), nil
}

// hold marks b as held by a several-policy decision (under the shard lock)
// and returns its encoded TAT; lock-free decisions on b wait for the lock
// meanwhile. A bucket the same decision already holds (a policy listed
// twice) is returned as is.
func hold(b *bucket) int64 {
	for {
		v := b.tat.Load()
		if v&lockBit != 0 {
			return v &^ lockBit
		}
		if b.tat.CompareAndSwap(v, v|lockBit) {
			return v
		}
	}
}

// takeOne is take for the common route with a single policy: lock-free
// when the caller's bucket exists.
func (m *memory) takeOne(key string, p Policy, cost int64) (Result, error) {
	if cost < 0 || cost > p.Capacity() {
		if _, _, err := p.params(); err != nil {
			return Result{}, err
		}
		return Result{}, checkCost(p, p.Capacity(), cost)
	}
	name := p.NameOrDefault()
	kh := maphash.String(m.seed, key)
	h := bucketHash(kh, name)
	s := &m.shards[(kh>>32)&m.mask]
	now := m.nowNs()
	if b := s.tab.Load().lookup(h, key, name); b != nil {
		t, tau, err := b.params(p)
		if err != nil {
			return Result{}, err
		}
		if d, ok := m.cas(b, t, tau, now, cost); ok {
			return Result{Decision: d}, nil
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.tab.Load().lookup(h, key, name); b != nil {
		t, tau, err := b.params(p)
		if err != nil {
			return Result{}, err
		}
		// Under the lock no bucket in the table is held or dead.
		d, _ := m.cas(b, t, tau, now, cost)
		return Result{Decision: d}, nil
	}
	t, tau, err := p.params()
	if err != nil {
		return Result{}, err
	}
	d := decide(t, tau, 0, cost)
	if d.Allowed && cost > 0 {
		m.put(s, kh, key, p, t, tau, now+int64(d.ResetAfter), now)
	}
	return Result{Decision: d}, nil
}

// cas decides a request on bucket b and applies it by compare-and-swap. It
// reports false, having changed nothing, when b is held by a several-policy
// decision or dead: the caller then decides under the lock.
func (m *memory) cas(b *bucket, t, tau, now, cost int64) (Decision, bool) {
	for {
		v := b.tat.Load()
		if v < 0 || v&lockBit != 0 {
			return Decision{}, false
		}
		d := decide(t, tau, m.dec(v)-now, cost)
		if !d.Allowed || cost == 0 {
			return d, true
		}
		if b.tat.CompareAndSwap(v, m.enc(now+int64(d.ResetAfter))) {
			return d, true
		}
	}
}

func (m *memory) charge(key string, policies []Policy, cost int64) error {
	if m.closed.Load() {
		return ErrClosed
	}
	for _, p := range policies {
		if _, _, err := p.params(); err != nil {
			return err
		}
	}
	if cost <= 0 {
		return nil
	}
	kh := maphash.String(m.seed, key)
	s := &m.shards[(kh>>32)&m.mask]
	now := m.nowNs()
	s.mu.Lock()
	for _, p := range policies {
		t, tau, _ := p.params()
		name := p.NameOrDefault()
		if b := s.tab.Load().lookup(bucketHash(kh, name), key, name); b != nil {
			for { // lock-free decisions may race: compare-and-swap
				v := b.tat.Load()
				if b.tat.CompareAndSwap(v, m.enc(now+charge(t, tau, m.dec(v)-now, cost))) {
					break
				}
			}
			continue
		}
		m.put(s, kh, key, p, t, tau, now+charge(t, tau, 0, cost), now)
	}
	s.mu.Unlock()
	return nil
}

// put creates the bucket (kh, key, p) holding tat in s, which must be
// locked, or sets its TAT when it exists; it first makes room under
// MaxKeys and grows the table when it is 3/4 full.
func (m *memory) put(s *shard, kh uint64, key string, p Policy, t, tau, tat, now int64) {
	name := p.NameOrDefault()
	h := bucketHash(kh, name)
	tab := s.tab.Load()
	if _, b := tab.find(h, key, name); b != nil {
		b.tat.Store(m.enc(tat))
		return
	}
	if m.maxPerShard > 0 && tab.n >= m.maxPerShard {
		m.evict(tab, h*0x9e3779b97f4a7c15, now)
	}
	if (tab.n+1)*4 > len(tab.slots)*3 {
		tab = tab.resized(max(minTableSize, len(tab.slots)*2))
		s.tab.Store(tab)
	}
	i, _ := tab.find(h, key, name)
	tab.slots[i].store(m.newBucket(h, key, p, t, tau, tat))
	tab.n++
}

// kill marks b dead if its TAT is at or before now and reports whether it
// did. Under the shard lock only, where no bucket is held.
func (m *memory) kill(b *bucket, now int64) bool {
	for {
		v := b.tat.Load()
		if m.dec(v) > now {
			return false
		}
		if b.tat.CompareAndSwap(v, deadTAT) {
			return true
		}
	}
}

// evict makes room for one new bucket in tab (under the shard lock): it
// deletes the first full bucket (TAT at or before now) among the 8 occupied
// slots from position start, else the one of them nearest to full.
func (m *memory) evict(tab *table, start uint64, now int64) {
	if tab.n == 0 {
		return
	}
	mask := uint64(len(tab.slots) - 1)
	victim, seen := -1, 0
	var victimTAT int64
	for i := start & mask; seen < 8; i = (i + 1) & mask {
		b := tab.slots[i].load()
		if b == nil {
			continue
		}
		if m.kill(b, now) {
			tab.deleteAt(int(i))
			return
		}
		if v := b.tat.Load(); victim < 0 || v < victimTAT {
			victim, victimTAT = int(i), v
		}
		if seen++; seen == tab.n {
			break
		}
	}
	m.kill(tab.slots[victim].load(), math.MaxInt64)
	tab.deleteAt(victim)
}

// sweepShard deletes every bucket of s (locked) whose TAT is at or before
// now and returns how many it deleted; it then shrinks the table when it is
// mostly empty.
func (m *memory) sweepShard(s *shard, now int64) int {
	tab := s.tab.Load()
	deleted := 0
	for i := 0; i < len(tab.slots); {
		if b := tab.slots[i].load(); b != nil && m.kill(b, now) {
			tab.deleteAt(i)
			deleted++
			continue // another bucket may have shifted into slot i
		}
		i++
	}
	if len(tab.slots) > minTableSize && tab.n*8 < len(tab.slots) {
		size := minTableSize
		for size*3 < tab.n*4*2 { // room to double before the next growth
			size *= 2
		}
		s.tab.Store(tab.resized(size))
	}
	return deleted
}

func (m *memory) len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += s.tab.Load().n
		s.mu.Unlock()
	}
	return n
}

func (m *memory) sweep() int {
	deleted := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		deleted += m.sweepShard(s, m.nowNs())
		s.mu.Unlock()
	}
	return deleted
}

func (m *memory) sweeper(interval time.Duration) {
	defer close(m.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.sweep()
		}
	}
}

func (m *memory) close() {
	m.closeOnce.Do(func() {
		m.closed.Store(true)
		close(m.stop)
	})
}
