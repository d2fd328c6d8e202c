package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"time"

	"github.com/clipia/apiguard/principal"
)

// CacheConfig configures [NewCachedKeyStore]. The zero value is valid.
type CacheConfig struct {
	// TTL is how long a found key (valid or revoked) is answered from the
	// cache. It bounds how long a key revoked in the underlying store keeps
	// working. Default 30 seconds.
	TTL time.Duration

	// NegativeTTL is how long an unknown key ([ErrKeyNotFound]) is answered
	// from the cache, which spares the store repeated lookups of the same
	// bad key. Default 0: unknown keys are not cached, so a key created in
	// the store works at once.
	NegativeTTL time.Duration

	// MaxEntries bounds the number of cached keys. When it is reached, the
	// entry closest to expiry among a few sampled ones is dropped. Default
	// 10000.
	MaxEntries int

	// Now is the clock. Nil means time.Now; tests pass a fake.
	Now func() time.Time
}

// CachedKeyStore is a [KeyStore] that remembers the answers of a slower
// one (a database, a remote service) for a while. Entries are keyed by the
// SHA-256 digest of the key, so the cache holds no key in clear.
//
// Store errors other than [ErrKeyNotFound] and [ErrKeyRevoked] are never
// cached. Concurrent lookups of one uncached key wait for a single call to
// the underlying store (each waiter still honours its own context); if that
// call fails, each waiter asks the store itself.
//
// A CachedKeyStore is safe for concurrent use. It uses one mutex, held only
// for map operations, never across the call to the underlying store.
type CachedKeyStore struct {
	store    KeyStore
	ttl      time.Duration
	negTTL   time.Duration
	max      int
	now      func() time.Time
	mu       sync.Mutex
	entries  map[[sha256.Size]byte]cacheEntry
	inflight map[[sha256.Size]byte]*cacheCall
}

type cacheEntry struct {
	p       *principal.Principal
	err     error // nil, ErrKeyNotFound or ErrKeyRevoked
	expires time.Time
}

type cacheCall struct {
	done   chan struct{}
	p      *principal.Principal
	err    error
	shared bool // p, err may be handed to waiters
}

// evictSample is how many entries are looked at to pick one to evict.
const evictSample = 8

// NewCachedKeyStore wraps store with a cache. It returns an error when
// store is nil or a duration or MaxEntries is negative.
func NewCachedKeyStore(store KeyStore, cfg CacheConfig) (*CachedKeyStore, error) {
	if store == nil {
		return nil, errors.New("apiguard: NewCachedKeyStore: store is nil")
	}
	if cfg.TTL < 0 || cfg.NegativeTTL < 0 || cfg.MaxEntries < 0 {
		return nil, errors.New("apiguard: CacheConfig: negative TTL, NegativeTTL or MaxEntries")
	}
	c := &CachedKeyStore{
		store:    store,
		ttl:      cfg.TTL,
		negTTL:   cfg.NegativeTTL,
		max:      cfg.MaxEntries,
		now:      cfg.Now,
		entries:  make(map[[sha256.Size]byte]cacheEntry),
		inflight: make(map[[sha256.Size]byte]*cacheCall),
	}
	if c.ttl == 0 {
		c.ttl = 30 * time.Second
	}
	if c.max == 0 {
		c.max = 10000
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Lookup implements [KeyStore]: from the cache while the entry is fresh,
// else from the underlying store.
func (c *CachedKeyStore) Lookup(ctx context.Context, key string) (*principal.Principal, error) {
	d := digestKey(key)
	c.mu.Lock()
	if e, ok := c.entries[d]; ok {
		if c.now().Before(e.expires) {
			c.mu.Unlock()
			return e.p, e.err
		}
		delete(c.entries, d)
	}
	if call, ok := c.inflight[d]; ok {
		c.mu.Unlock()
		select {
		case <-call.done:
			if call.shared {
				return call.p, call.err
			}
			return c.store.Lookup(ctx, key)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	call := &cacheCall{done: make(chan struct{})}
	c.inflight[d] = call
	c.mu.Unlock()

	defer func() {
		// Also on a panic in the store: waiters then ask the store
		// themselves instead of blocking.
		c.mu.Lock()
		delete(c.inflight, d)
		if call.shared {
			c.putLocked(d, call.p, call.err)
		}
		c.mu.Unlock()
		close(call.done)
	}()
	p, err := c.store.Lookup(ctx, key)
	call.p, call.err = p, err
	switch {
	case err == nil:
		call.shared = p != nil
	case errors.Is(err, ErrKeyRevoked):
		call.shared, call.err = true, ErrKeyRevoked
	case errors.Is(err, ErrKeyNotFound):
		call.shared, call.err = true, ErrKeyNotFound
	}
	return p, err
}

func (c *CachedKeyStore) putLocked(d [sha256.Size]byte, p *principal.Principal, err error) {
	ttl := c.ttl
	if err == ErrKeyNotFound {
		ttl = c.negTTL
	}
	if ttl <= 0 {
		return
	}
	if _, ok := c.entries[d]; !ok && len(c.entries) >= c.max {
		c.evictLocked()
	}
	c.entries[d] = cacheEntry{p: p, err: err, expires: c.now().Add(ttl)}
}

// evictLocked drops the entry closest to expiry among a few, as random as
// map iteration, so eviction is O(1) however large the cache is.
func (c *CachedKeyStore) evictLocked() {
	var (
		victim [sha256.Size]byte
		first  = true
		soon   time.Time
		n      int
	)
	for d, e := range c.entries {
		if first || e.expires.Before(soon) {
			victim, soon, first = d, e.expires, false
		}
		if n++; n == evictSample {
			break
		}
	}
	if !first {
		delete(c.entries, victim)
	}
}

// Purge drops every cached answer, e.g. right after revoking a key in the
// underlying store.
func (c *CachedKeyStore) Purge() {
	c.mu.Lock()
	clear(c.entries)
	c.mu.Unlock()
}

// Len returns the number of cached answers, fresh or not yet evicted.
func (c *CachedKeyStore) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
