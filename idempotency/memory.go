package idempotency

import (
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
	mu   sync.Mutex
	now  func() time.Time
	max  int
	recs map[string]*memRecord
	// The records, oldest first (a list through the records themselves).
	head, tail *memRecord
	seq        uint64

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type memRecord struct {
	key     string
	state   State
	fp      string
	token   uint64 // the claim's token, as a number (one object less to keep)
	expires time.Time
	resp    storedResp // when hasResp
	hasResp bool
	prev    *memRecord
	next    *memRecord
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
		now:  cfg.Now,
		max:  cfg.MaxRecords,
		recs: make(map[string]*memRecord),
		stop: make(chan struct{}),
		done: make(chan struct{}),
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
	for r := s.head; r != nil; {
		next := r.next
		if !now.Before(r.expires) {
			s.remove(r)
		}
		r = next
	}
}

func (s *memStore) pushBack(r *memRecord) {
	r.prev, r.next = s.tail, nil
	if s.tail != nil {
		s.tail.next = r
	} else {
		s.head = r
	}
	s.tail = r
}

func (s *memStore) unlink(r *memRecord) {
	if r.prev != nil {
		r.prev.next = r.next
	} else {
		s.head = r.next
	}
	if r.next != nil {
		r.next.prev = r.prev
	} else {
		s.tail = r.prev
	}
	r.prev, r.next = nil, nil
}

func (s *memStore) remove(r *memRecord) {
	s.unlink(r)
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

// storedResp is a response as the memory store keeps it: the headers flat,
// so that a record holds few pointers. It never changes once stored.
type storedResp struct {
	status int
	hdr    flatHeader
	hdrNil bool // the response's Header was nil
	body   []byte
}

// response returns a copy of r as a Response.
func (r *storedResp) response() *Response {
	out := &Response{Status: r.status}
	if !r.hdrNil {
		out.Header = r.hdr.header()
	}
	if r.body != nil {
		out.Body = append([]byte{}, r.body...)
	}
	return out
}

// record returns r. Its response is copied, or with shared returned as it
// is stored, outside the Record (for the guard, which only reads it).
func (r *memRecord) record(shared bool) (Record, *storedResp) {
	out := Record{State: r.state, Fingerprint: r.fp, ExpiresAt: r.expires}
	if shared {
		if !r.hasResp {
			return out, nil
		}
		return out, &r.resp
	}
	out.Token = strconv.FormatUint(r.token, 10)
	if !r.hasResp {
		return out, nil
	}
	out.Response = r.resp.response()
	return out, nil
}

// Claim implements [Store.Claim].
func (m *MemoryStore) Claim(ctx context.Context, key, fingerprint string, lease time.Duration) (ClaimResult, error) {
	res, _, err := m.claim(ctx, key, fingerprint, lease, false)
	return res, err
}

// claim is Claim; with shared, a stored response is returned as it is
// stored, beside the result (for the guard, which only reads it).
func (m *MemoryStore) claim(ctx context.Context, key, fingerprint string, lease time.Duration, shared bool) (ClaimResult, *storedResp, error) {
	if err := ctx.Err(); err != nil {
		return ClaimResult{}, nil, err
	}
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if r := s.live(key, now); r != nil {
		rec, sr := r.record(shared)
		return ClaimResult{Record: rec}, sr, nil
	}
	for len(s.recs) >= s.max {
		if s.head == nil {
			break
		}
		s.remove(s.head)
	}
	s.seq++
	r := &memRecord{
		key:     key,
		state:   StateInProgress,
		fp:      fingerprint,
		token:   s.seq,
		expires: now.Add(lease),
	}
	s.pushBack(r)
	s.recs[key] = r
	return ClaimResult{Claimed: true, Token: strconv.FormatUint(r.token, 10)}, nil, nil
}

// Commit implements [Store.Commit]. The response is copied.
func (m *MemoryStore) Commit(ctx context.Context, key, token string, resp Response, retention time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sr := storedResp{status: resp.Status, hdr: appendFlat(nil, resp.Header, nil), hdrNil: resp.Header == nil}
	if resp.Body != nil {
		sr.body = append([]byte{}, resp.Body...)
	}
	return m.commit(key, token, sr, retention)
}

// commit is Commit of a response the store keeps as it is (the guard hands
// over what it captured and never touches it again).
func (m *MemoryStore) commit(key, token string, c storedResp, retention time.Duration) error {
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	r := s.owned(key, token, now)
	if r == nil {
		return ErrLeaseLost
	}
	r.state = StateCompleted
	r.resp, r.hasResp = c, true
	r.expires = now.Add(retention)
	s.unlink(r)
	s.pushBack(r)
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
	s.unlink(r)
	s.pushBack(r)
	return nil
}

// tokenIs reports whether token is the decimal spelling of n, as Claim
// returned it.
func tokenIs(token string, n uint64) bool {
	v, err := strconv.ParseUint(token, 10, 64)
	return err == nil && v == n && (len(token) == 1 || token[0] != '0')
}

// owned returns the live in-progress record of key that token owns, or nil
// (the fencing of Commit, Release and Renew). The caller holds s.mu.
func (s *memStore) owned(key, token string, now time.Time) *memRecord {
	r := s.live(key, now)
	if r == nil || r.state != StateInProgress || !tokenIs(token, r.token) {
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
	rec, _ := r.record(false)
	return rec, true, nil
}
