package idempotency

import (
	"container/list"
	"context"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// MemoryConfig configures [NewMemoryStore]. The zero value is valid.
type MemoryConfig struct {
	// MaxRecords bounds the number of records kept. When a new claim
	// finds the store full, expired records go first, then the oldest
	// record (by last claim or commit). Evicting a live record forgets its
	// key, so size it above the number of keys used within the retention.
	// Zero or negative means 100 000.
	MaxRecords int

	// SweepInterval is how often the sweeper goroutine deletes expired
	// records. Zero or negative means one minute.
	SweepInterval time.Duration

	// Now returns the current time; tests inject a clock here. Nil means
	// time.Now.
	Now func() time.Time
}

// MemoryStore is the in-memory [Store], the default of the guard. It
// suits a single process: records are not shared between processes and do
// not survive a restart (use redisstore to share them).
//
// It holds one mutex; memory is bounded by MaxRecords, and one sweeper
// goroutine deletes expired records until [MemoryStore.Close] (or, for a
// store that becomes unreachable without being closed, until the garbage
// collector reclaims it). A MemoryStore is safe for concurrent use.
type MemoryStore struct {
	s *memStore
}

// Name returns "memory", the store's name in apiguard.store.duration.
func (m *MemoryStore) Name() string { return "memory" }

type memStore struct {
	mu    sync.Mutex
	now   func() time.Time
	max   int
	recs  map[string]*memRecord
	order *list.List // of *memRecord, oldest first
	seq   uint64

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type memRecord struct {
	key     string
	state   State
	fp      string
	token   string
	expires time.Time
	resp    *Response
	elem    *list.Element
}

// NewMemoryStore returns an in-memory store and starts its sweeper.
func NewMemoryStore(cfg MemoryConfig) *MemoryStore {
	if cfg.MaxRecords <= 0 {
		cfg.MaxRecords = 100_000
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &memStore{
		now:   cfg.Now,
		max:   cfg.MaxRecords,
		recs:  make(map[string]*memRecord),
		order: list.New(),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go s.sweeper(cfg.SweepInterval)
	ms := &MemoryStore{s: s}
	// The sweeper references s, never ms, so an unclosed store that nobody
	// references any more is still collected and its sweeper stopped.
	runtime.AddCleanup(ms, func(s *memStore) { s.close() }, s)
	return ms
}

// Close stops the sweeper goroutine and waits for it to exit. The store
// keeps working without it (expired records are then only dropped when
// their key is used again or the store is full). Close is idempotent and
// always returns nil.
func (m *MemoryStore) Close() error {
	m.s.close()
	return nil
}

// Len returns the number of records held, expired ones not yet swept
// included.
func (m *MemoryStore) Len() int {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	return len(m.s.recs)
}

// Sweep deletes every expired record now. The sweeper calls it every
// SweepInterval.
func (m *MemoryStore) Sweep() { m.s.sweep() }

func (s *memStore) close() {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
}

func (s *memStore) sweeper(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sweep()
		}
	}
}

func (s *memStore) sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for e := s.order.Front(); e != nil; {
		next := e.Next()
		if r := e.Value.(*memRecord); !now.Before(r.expires) {
			s.remove(r)
		}
		e = next
	}
}

func (s *memStore) remove(r *memRecord) {
	s.order.Remove(r.elem)
	delete(s.recs, r.key)
}

// live returns the unexpired record of key, dropping an expired one.
func (s *memStore) live(key string, now time.Time) *memRecord {
	r := s.recs[key]
	if r != nil && !now.Before(r.expires) {
		s.remove(r)
		return nil
	}
	return r
}

func (r *memRecord) record() Record {
	out := Record{State: r.state, Fingerprint: r.fp, Token: r.token, ExpiresAt: r.expires}
	if r.resp != nil {
		c := r.resp.Clone()
		out.Response = &c
	}
	return out
}

// Claim implements [Store.Claim].
func (m *MemoryStore) Claim(ctx context.Context, key, fingerprint string, lease time.Duration) (ClaimResult, error) {
	if err := ctx.Err(); err != nil {
		return ClaimResult{}, err
	}
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if r := s.live(key, now); r != nil {
		return ClaimResult{Record: r.record()}, nil
	}
	for len(s.recs) >= s.max {
		front := s.order.Front()
		if front == nil {
			break
		}
		s.remove(front.Value.(*memRecord))
	}
	s.seq++
	r := &memRecord{
		key:     key,
		state:   StateInProgress,
		fp:      fingerprint,
		token:   strconv.FormatUint(s.seq, 10),
		expires: now.Add(lease),
	}
	r.elem = s.order.PushBack(r)
	s.recs[key] = r
	return ClaimResult{Claimed: true, Token: r.token}, nil
}

// Commit implements [Store.Commit]. The response is copied.
func (m *MemoryStore) Commit(ctx context.Context, key, token string, resp Response, retention time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := resp.Clone()
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	r := s.owned(key, token, now)
	if r == nil {
		return ErrLeaseLost
	}
	r.state = StateCompleted
	r.resp = &c
	r.expires = now.Add(retention)
	s.order.MoveToBack(r.elem)
	return nil
}

// Release implements [Store.Release].
func (m *MemoryStore) Release(ctx context.Context, key, token string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.owned(key, token, s.now())
	if r == nil {
		return ErrLeaseLost
	}
	s.remove(r)
	return nil
}

// Renew implements [Store.Renew]. A renewed record counts as recently used
// for eviction.
func (m *MemoryStore) Renew(ctx context.Context, key, token string, lease time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	r := s.owned(key, token, now)
	if r == nil {
		return ErrLeaseLost
	}
	r.expires = now.Add(lease)
	s.order.MoveToBack(r.elem)
	return nil
}

// owned returns the live in-progress record of key that token owns, or nil
// (the fencing of Commit, Release and Renew). The caller holds s.mu.
func (s *memStore) owned(key, token string, now time.Time) *memRecord {
	r := s.live(key, now)
	if r == nil || r.state != StateInProgress || r.token != token {
		return nil
	}
	return r
}

// Get implements [Store.Get].
func (m *MemoryStore) Get(ctx context.Context, key string) (Record, bool, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, false, err
	}
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.live(key, s.now())
	if r == nil {
		return Record{}, false, nil
	}
	return r.record(), true, nil
}
