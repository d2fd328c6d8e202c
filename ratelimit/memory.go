package ratelimit

import (
	"context"
	"errors"
	"hash/maphash"
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
// table, each shard behind its own mutex, and a decision allocates nothing
// (the tables only grow by doubling). A bucket is deleted once it is full
// again (a full bucket equals no bucket): by one sweeper goroutine, which
// [MemoryStore.Close] stops, or by a new bucket that needs its room under
// MaxKeys. About 120 bytes per live bucket, its key string included.
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
	maxPerShard int
	closed      atomic.Bool
	stop        chan struct{}
	done        chan struct{}
	closeOnce   sync.Once
}

type shard struct {
	mu sync.Mutex
	t  table
	// last caches the parameters of the last single policy decided here,
	// sparing the division of Policy.params on the hot path.
	last policyParams
	_    [48]byte // keep shards on separate cache lines
}

type policyParams struct {
	rate, period, burst int64
	t, tau              int64
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
	if len(policies) > maxInline {
		ds = make([]Decision, 0, len(policies))
	}
	kh := maphash.String(m.seed, key)
	s := &m.shards[(kh>>32)&m.mask]
	now := m.nowNs()
	s.mu.Lock()
	allowed := true
	for i, p := range policies {
		t, tau := params[i][0], params[i][1]
		var ahead int64
		name := p.NameOrDefault()
		if tat, ok := s.t.get(bucketHash(kh, name), key, name); ok {
			ahead = tat - now
		}
		d := decide(t, tau, ahead, cost)
		allowed = allowed && d.Allowed
		ds = append(ds, d)
	}
	if allowed && cost > 0 {
		for i, p := range policies {
			name := p.NameOrDefault()
			m.put(s, bucketHash(kh, name), key, name, now+int64(ds[i].ResetAfter), now)
		}
	}
	s.mu.Unlock()
	return Combine(ds), nil
}

// takeOne is take for the common route with a single policy.
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
	s.mu.Lock()
	t, tau := s.last.t, s.last.tau
	if s.last.rate != p.Rate || s.last.period != int64(p.Period) || s.last.burst != p.Burst || t == 0 {
		var err error
		if t, tau, err = p.params(); err != nil {
			s.mu.Unlock()
			return Result{}, err
		}
		s.last = policyParams{rate: p.Rate, period: int64(p.Period), burst: p.Burst, t: t, tau: tau}
	}
	var ahead int64
	i, ok := s.t.find(h, key, name)
	if ok {
		ahead = s.t.slots[i].tat - now
	}
	d := decide(t, tau, ahead, cost)
	if d.Allowed && cost > 0 {
		if ok {
			s.t.slots[i].tat = now + int64(d.ResetAfter)
		} else {
			m.put(s, h, key, name, now+int64(d.ResetAfter), now)
		}
	}
	s.mu.Unlock()
	return Result{Decision: d}, nil
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
		h := bucketHash(kh, name)
		var ahead int64
		if tat, ok := s.t.get(h, key, name); ok {
			ahead = tat - now
		}
		m.put(s, h, key, name, now+charge(t, tau, ahead, cost), now)
	}
	s.mu.Unlock()
	return nil
}

// put stores the TAT of a bucket in s, which must be locked, first making
// room under MaxKeys.
func (m *memory) put(s *shard, h uint64, key, name string, tat, now int64) {
	if m.maxPerShard > 0 && s.t.n >= m.maxPerShard {
		if _, ok := s.t.find(h, key, name); !ok {
			s.t.evict(h*0x9e3779b97f4a7c15, now)
		}
	}
	s.t.set(h, key, name, tat)
}

func (m *memory) len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += s.t.n
		s.mu.Unlock()
	}
	return n
}

func (m *memory) sweep() int {
	deleted := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		deleted += s.t.sweep(m.nowNs())
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
