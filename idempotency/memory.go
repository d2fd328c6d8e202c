package idempotency

import (
	"context"
	"hash/maphash"
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
//
// Its records hold no pointers (fixed-size slots in one slice, keys,
// fingerprints and responses in large byte pages), so that however many it
// keeps, the garbage collector has next to nothing to scan.
type MemoryStore struct {
	s *memStore
}

// Name returns "memory", the store's name in apiguard.store.duration.
func (m *MemoryStore) Name() string { return "memory" }

type memStore struct {
	mu   sync.Mutex
	now  func() time.Time
	base time.Time // expiry times are kept as offsets from it
	max  int
	seed maphash.Seed
	mask uint64 // of the key hashes: all ones; tests clear bits to make keys collide
	// index maps the hash of a key to its first slot (+1); slots of keys
	// with the same hash are chained through slot.chain.
	index map[uint64]uint32
	slots []memSlot
	free  uint32 // the free slots (+1), chained through slot.next
	n     int    // live slots
	// The records, oldest first (a list through slot.prev and slot.next,
	// +1 each, 0 for none).
	head, tail uint32
	seq        uint64
	blobs      blobArena

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// memSlot is one record, without pointers. Its key, fingerprint, headers
// (flat) and body are one blob, in that order.
type memSlot struct {
	hash       uint64
	token      uint64 // the claim's token, as a number
	expires    int64  // nanoseconds after memStore.base
	chain      uint32 // the next slot with the same hash (+1)
	prev, next uint32 // the list (+1)
	blob       blobRef
	keyLen     uint32
	fpLen      uint32
	hdrLen     uint32
	bodyLen    uint32
	status     int32
	state      State
	hasResp    bool
	hdrNil     bool // the response's Header was nil
	bodyNil    bool // the response's Body was nil
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
		base:  cfg.Now(),
		max:   cfg.MaxRecords,
		seed:  maphash.MakeSeed(),
		mask:  ^uint64(0),
		index: make(map[uint64]uint32),
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
	return m.s.n
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
	now := s.offset(s.now())
	for i := s.head; i != 0; {
		next := s.slots[i-1].next
		if now >= s.slots[i-1].expires {
			s.remove(i)
		}
		i = next
	}
}

// offset returns t as kept in a slot.
func (s *memStore) offset(t time.Time) int64 { return int64(t.Sub(s.base)) }

// at returns the time of an offset.
func (s *memStore) at(off int64) time.Time { return s.base.Add(time.Duration(off)) }

func (s *memStore) pushBack(i uint32) {
	r := &s.slots[i-1]
	r.prev, r.next = s.tail, 0
	if s.tail != 0 {
		s.slots[s.tail-1].next = i
	} else {
		s.head = i
	}
	s.tail = i
}

func (s *memStore) unlink(i uint32) {
	r := &s.slots[i-1]
	if r.prev != 0 {
		s.slots[r.prev-1].next = r.next
	} else {
		s.head = r.next
	}
	if r.next != 0 {
		s.slots[r.next-1].prev = r.prev
	} else {
		s.tail = r.prev
	}
	r.prev, r.next = 0, 0
}

// remove deletes the record of slot i.
func (s *memStore) remove(i uint32) {
	s.unlink(i)
	r := &s.slots[i-1]
	// Off its hash chain.
	if first := s.index[r.hash]; first == i {
		if r.chain == 0 {
			delete(s.index, r.hash)
		} else {
			s.index[r.hash] = r.chain
		}
	} else {
		for j := first; j != 0; j = s.slots[j-1].chain {
			if s.slots[j-1].chain == i {
				s.slots[j-1].chain = r.chain
				break
			}
		}
	}
	s.blobs.free(i, r.blob)
	*r = memSlot{next: s.free, blob: noBlob}
	s.free = i
	s.n--
}

// hash returns the hash of key.
func (s *memStore) hash(key string) uint64 { return maphash.String(s.seed, key) & s.mask }

// find returns the slot of key (+1), or 0.
func (s *memStore) find(h uint64, key string) uint32 {
	for i := s.index[h]; i != 0; i = s.slots[i-1].chain {
		r := &s.slots[i-1]
		if r.hash == h && int(r.keyLen) == len(key) && string(s.blobs.bytes(i, r.blob)[:r.keyLen]) == key {
			return i
		}
	}
	return 0
}

// live returns the slot of the unexpired record of key (+1), or 0,
// dropping an expired one. hint is where the key was claimed (+1), or 0:
// when it still holds the key, no lookup is needed.
func (s *memStore) live(key string, hint uint32, now int64) uint32 {
	i := hint
	if !s.holds(i, key) {
		i = s.find(s.hash(key), key)
	}
	if i != 0 && now >= s.slots[i-1].expires {
		s.remove(i)
		return 0
	}
	return i
}

// holds reports whether slot i (+1) holds the record of key.
func (s *memStore) holds(i uint32, key string) bool {
	if i == 0 || int(i) > len(s.slots) {
		return false
	}
	r := &s.slots[i-1]
	return r.state != 0 && int(r.keyLen) == len(key) && string(s.blobs.bytes(i, r.blob)[:r.keyLen]) == key
}

// fp returns the fingerprint of slot i.
func (s *memStore) fp(i uint32) []byte {
	r := &s.slots[i-1]
	return s.blobs.bytes(i, r.blob)[r.keyLen : r.keyLen+r.fpLen]
}

// storedResp is a response as the memory store hands it to the guard: the
// headers flat. Its bytes are the caller's own.
type storedResp struct {
	status int
	hdr    flatHeader
	hdrNil bool // the response's Header was nil
	body   []byte
}

// resp returns a copy of the response of slot i (one allocation for
// headers and body).
func (s *memStore) resp(i uint32) storedResp {
	r := &s.slots[i-1]
	b := s.blobs.bytes(i, r.blob)[r.keyLen+r.fpLen:]
	b = b[:r.hdrLen+r.bodyLen]
	var cp []byte
	if len(b) > 0 {
		cp = append(make([]byte, 0, len(b)), b...)
	}
	out := storedResp{status: int(r.status), hdrNil: r.hdrNil}
	if r.hdrLen > 0 {
		out.hdr = flatHeader(cp[:r.hdrLen:r.hdrLen])
	}
	if !r.bodyNil {
		out.body = cp[r.hdrLen:len(b):len(b)]
		if out.body == nil {
			out.body = []byte{}
		}
	}
	return out
}

// response returns r as a Response.
func (r *storedResp) response() *Response {
	out := &Response{Status: r.status, Body: r.body}
	if !r.hdrNil {
		out.Header = r.hdr.header()
	}
	return out
}

// record returns the record of slot i. With fp equal to its fingerprint,
// its Fingerprint is fp (no copy), and with shared its Token is left
// empty and its response is returned beside it, flat (for the guard).
func (s *memStore) record(i uint32, fp string, shared bool) (Record, storedResp, bool) {
	r := &s.slots[i-1]
	out := Record{State: r.state, ExpiresAt: s.at(r.expires)}
	if f := s.fp(i); string(f) == fp {
		out.Fingerprint = fp
	} else {
		out.Fingerprint = string(f)
	}
	if shared {
		if !r.hasResp {
			return out, storedResp{}, false
		}
		return out, s.resp(i), true
	}
	out.Token = strconv.FormatUint(r.token, 10)
	if r.hasResp {
		sr := s.resp(i)
		out.Response = sr.response()
	}
	return out, storedResp{}, false
}

// Claim implements [Store.Claim].
func (m *MemoryStore) Claim(ctx context.Context, key, fingerprint string, lease time.Duration) (ClaimResult, error) {
	mc, err := m.claim(ctx, key, fingerprint, lease, false)
	return mc.res, err
}

// memClaim is the outcome of MemoryStore.claim.
type memClaim struct {
	res       ClaimResult
	stored    storedResp // with shared, the response of a completed record
	hasStored bool
	slot      uint32 // of a new claim (+1): the hint of commit
}

// claim is Claim; with shared, a stored response is returned beside the
// result, flat, and the record's Token is left empty (for the guard).
func (m *MemoryStore) claim(ctx context.Context, key, fingerprint string, lease time.Duration, shared bool) (memClaim, error) {
	if err := ctx.Err(); err != nil {
		return memClaim{}, err
	}
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.offset(s.now())
	h := s.hash(key)
	if i := s.find(h, key); i != 0 {
		if now < s.slots[i-1].expires {
			rec, sr, ok := s.record(i, fingerprint, shared)
			return memClaim{res: ClaimResult{Record: rec}, stored: sr, hasStored: ok}, nil
		}
		s.remove(i)
	}
	for s.n >= s.max && s.head != 0 {
		s.remove(s.head)
	}
	i := s.free
	if i != 0 {
		s.free = s.slots[i-1].next
	} else {
		s.slots = append(s.slots, memSlot{})
		i = uint32(len(s.slots))
	}
	s.seq++
	s.slots[i-1] = memSlot{
		hash:    h,
		token:   s.seq,
		expires: now + int64(lease),
		chain:   s.index[h],
		keyLen:  uint32(len(key)),
		fpLen:   uint32(len(fingerprint)),
		state:   StateInProgress,
	}
	r := &s.slots[i-1]
	r.blob = s.blobs.alloc(i, len(key)+len(fingerprint))
	b := s.blobs.bytes(i, r.blob)
	copy(b[copy(b, key):], fingerprint)
	s.index[h] = i
	s.n++
	s.pushBack(i)
	return memClaim{res: ClaimResult{Claimed: true, Token: strconv.FormatUint(s.seq, 10)}, slot: i}, nil
}

// Commit implements [Store.Commit]. The response is copied.
func (m *MemoryStore) Commit(ctx context.Context, key, token string, resp Response, retention time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sr := storedResp{status: resp.Status, hdr: appendFlat(nil, resp.Header, nil), hdrNil: resp.Header == nil, body: resp.Body}
	return m.commit(key, 0, token, sr, retention)
}

// commit is Commit of a response with its headers flat, hint the slot of
// the claim (+1) or 0. The store copies it: the caller may reuse its
// bytes.
func (m *MemoryStore) commit(key string, hint uint32, token string, c storedResp, retention time.Duration) error {
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.offset(s.now())
	i := s.owned(key, hint, token, now)
	if i == 0 {
		return ErrLeaseLost
	}
	r := &s.slots[i-1]
	head := int(r.keyLen + r.fpLen)
	old := r.blob
	nb := s.blobs.alloc(i, head+len(c.hdr)+len(c.body))
	b := s.blobs.bytes(i, nb)
	if nb != old || !nb.big() {
		copy(b, s.blobs.bytes(i, old)[:head])
	}
	copy(b[head+copy(b[head:], c.hdr):], c.body)
	if nb != old {
		s.blobs.free(i, old)
	}
	r.blob = nb
	r.state, r.hasResp = StateCompleted, true
	r.status, r.hdrNil, r.bodyNil = int32(c.status), c.hdrNil, c.body == nil
	r.hdrLen, r.bodyLen = uint32(len(c.hdr)), uint32(len(c.body))
	r.expires = now + int64(retention)
	s.unlink(i)
	s.pushBack(i)
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
	i := s.owned(key, 0, token, s.offset(s.now()))
	if i == 0 {
		return ErrLeaseLost
	}
	s.remove(i)
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
	now := s.offset(s.now())
	i := s.owned(key, 0, token, now)
	if i == 0 {
		return ErrLeaseLost
	}
	s.slots[i-1].expires = now + int64(lease)
	s.unlink(i)
	s.pushBack(i)
	return nil
}

// tokenIs reports whether token is the decimal spelling of n, as Claim
// returned it.
func tokenIs(token string, n uint64) bool {
	v, err := strconv.ParseUint(token, 10, 64)
	return err == nil && v == n && (len(token) == 1 || token[0] != '0')
}

// owned returns the slot (+1) of the live in-progress record of key that
// token owns, or 0 (the fencing of Commit, Release and Renew); hint as in
// live. The caller holds s.mu.
func (s *memStore) owned(key string, hint uint32, token string, now int64) uint32 {
	i := s.live(key, hint, now)
	if i == 0 || s.slots[i-1].state != StateInProgress || !tokenIs(token, s.slots[i-1].token) {
		return 0
	}
	return i
}

// Get implements [Store.Get].
func (m *MemoryStore) Get(ctx context.Context, key string) (Record, bool, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, false, err
	}
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.live(key, 0, s.offset(s.now()))
	if i == 0 {
		return Record{}, false, nil
	}
	rec, _, _ := s.record(i, "", false)
	return rec, true, nil
}

// blobArena keeps the memory store's variable-size bytes without pointers
// to scan: a blob of up to maxSlab bytes is a slab of its size class in a
// page of pageSize bytes (when its last slab is freed, a class keeps one
// page and drops the others), a larger one is a slice of its own in big,
// by slot.
type blobArena struct {
	classes [numClasses]slabClass
	big     map[uint32][]byte
}

const (
	minSlab    = 64
	numClasses = 11 // 64 bytes to 64 KiB
	maxSlab    = minSlab << (numClasses - 1)
	pageSize   = maxSlab
	maxPages   = 1 << 16 // a slab's page index fits 16 bits
)

// slabClass is the slabs of one size.
type slabClass struct {
	pages [][]byte // each pageSize bytes
	used  int      // bytes handed out of the last page
	freed []uint32 // free slabs, as addresses
	live  int      // slabs in use
}

// blobRef is where a blob is: in class (-1 for big, -2 for none) at addr
// (page << 16 | offset).
type blobRef struct {
	addr  uint32
	class int8
}

// noBlob is the blobRef of nothing.
var noBlob = blobRef{class: -2}

func (b blobRef) big() bool { return b.class == -1 }

// classOf returns the size class of n bytes, or -1 when n is above
// maxSlab.
func classOf(n int) int {
	c := 0
	for size := minSlab; size < n; size <<= 1 {
		c++
		if c == numClasses {
			return -1
		}
	}
	return c
}

// alloc returns room for n bytes, for slot i. A slot has at most one big
// blob: alloc for a slot that holds one reuses it when it is large enough.
func (a *blobArena) alloc(i uint32, n int) blobRef {
	if n == 0 {
		return noBlob
	}
	c := classOf(n)
	if c >= 0 {
		sc := &a.classes[c]
		size := minSlab << c
		if k := len(sc.freed); k > 0 {
			addr := sc.freed[k-1]
			sc.freed = sc.freed[:k-1]
			sc.live++
			return blobRef{addr: addr, class: int8(c)}
		}
		if len(sc.pages) == 0 || sc.used+size > pageSize {
			if len(sc.pages) < maxPages {
				sc.pages = append(sc.pages, make([]byte, pageSize))
				sc.used = 0
			} else {
				c = -1
			}
		}
		if c >= 0 {
			addr := uint32(len(sc.pages)-1)<<16 | uint32(sc.used)
			sc.used += size
			sc.live++
			return blobRef{addr: addr, class: int8(c)}
		}
	}
	if a.big == nil {
		a.big = make(map[uint32][]byte)
	}
	if old := a.big[i]; cap(old) >= n {
		a.big[i] = old[:n]
	} else {
		// Keep what is there: commit copies the head from it.
		nb := make([]byte, n)
		copy(nb, old)
		a.big[i] = nb
	}
	return blobRef{class: -1}
}

// bytes returns the bytes of the blob b of slot i (its whole slab).
func (a *blobArena) bytes(i uint32, b blobRef) []byte {
	switch {
	case b.class >= 0:
		page := a.classes[b.class].pages[b.addr>>16]
		off := int(b.addr & 0xffff)
		return page[off : off+minSlab<<b.class]
	case b.class == -1:
		return a.big[i]
	}
	return nil
}

// free gives back the blob b of slot i.
func (a *blobArena) free(i uint32, b blobRef) {
	switch {
	case b.class >= 0:
		sc := &a.classes[b.class]
		sc.live--
		if sc.live == 0 && len(sc.pages) > 1 {
			// Empty: keep one page, for the next.
			sc.pages, sc.used, sc.freed = sc.pages[:1:1], 0, sc.freed[:0]
			return
		}
		sc.freed = append(sc.freed, b.addr)
	case b.class == -1:
		delete(a.big, i)
	}
}
