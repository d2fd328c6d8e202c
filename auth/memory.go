package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/clipia/apiguard/principal"
)

// MaxStoredKeyLength is the longest key, in bytes, that [NewMemoryKeyStore]
// accepts. Keys longer than the authenticator's [Config.MaxKeyLength]
// (default [DefaultMaxKeyLength]) are rejected before the store is asked, so
// raise that too when your keys are long.
const MaxStoredKeyLength = 4096

// KeyConfig is one API key of a [MemoryKeyStore]: the secret (in clear or as
// its SHA-256 digest) and the principal it authenticates.
type KeyConfig struct {
	// Key is the secret, as clients send it: 1 to [MaxStoredKeyLength]
	// visible ASCII characters (0x21–0x7E). It is hashed when the store is
	// built and not kept. Set exactly one of Key and SHA256.
	Key string

	// SHA256 is the hex-encoded SHA-256 digest of the key ([HashKey]), for
	// configurations that must not contain keys in clear. Set exactly one of
	// Key and SHA256.
	SHA256 string

	// KeyID is the non-secret, unique id of the key: logged, and used by rate
	// limits and idempotency records. Required.
	KeyID string

	// Tenant is the account of the key. Empty means the KeyID, so a key
	// without a tenant shares nothing with other keys.
	Tenant string

	// Scopes are the permissions of the key, e.g. "generations:write". Each is
	// a non-empty RFC 6749 scope token (visible ASCII but '"' and '\').
	Scopes []string

	// Metadata is copied into [principal.Principal.Metadata].
	Metadata map[string]string

	// Revoked keys are known but rejected with 401 like unknown ones; the
	// renderer logs the key id and the reason "revoked".
	Revoked bool
}

// HashKey returns the hex-encoded SHA-256 digest of key, the form
// [KeyConfig.SHA256] takes. Use it offline to turn keys into configuration.
func HashKey(key string) string {
	d := sha256.Sum256([]byte(key))
	return hex.EncodeToString(d[:])
}

// MemoryKeyStore is the built-in [KeyStore]: a fixed table of keys held in
// memory as SHA-256 digests only. The keys themselves are hashed when the
// table is loaded and never stored, logged or returned.
//
// Lookup hashes the presented key and finds the entry by digest; it never
// compares secrets byte by byte (see [MemoryKeyStore.Lookup]). It does not
// allocate.
//
// A MemoryKeyStore is safe for concurrent use: lookups read an immutable
// snapshot without locking, and [MemoryKeyStore.Reload] and
// [MemoryKeyStore.Revoke] swap in a new snapshot atomically. The zero value
// is an empty store that rejects every key; use [NewMemoryKeyStore].
type MemoryKeyStore struct {
	mu    sync.Mutex // serialises writers; readers never lock
	table atomic.Pointer[keyTable]
}

// Name returns "memory", the store's name in apiguard.store.duration.
func (s *MemoryKeyStore) Name() string { return "memory" }

// keyTable is an immutable snapshot of the keys.
type keyTable struct {
	// byPrefix indexes entries by the first 8 bytes of their digest;
	// entries whose digests share them (in practice never) are chained.
	byPrefix map[uint64]*keyEntry
	byID     map[string]*keyEntry
}

type keyEntry struct {
	digest    [sha256.Size]byte
	principal *principal.Principal
	revoked   bool
	next      *keyEntry // next entry with the same digest prefix
}

func digestPrefix(d *[sha256.Size]byte) uint64 { return binary.LittleEndian.Uint64(d[:8]) }

// find returns the entry whose digest is d, comparing whole digests in
// constant time.
func (t *keyTable) find(d *[sha256.Size]byte) *keyEntry {
	for e := t.byPrefix[digestPrefix(d)]; e != nil; e = e.next {
		if subtle.ConstantTimeCompare(e.digest[:], d[:]) == 1 {
			return e
		}
	}
	return nil
}

// indexKeys builds a table from entries, whose key ids and digests are
// already known to be unique. It copies the entries.
func indexKeys(entries []keyEntry) *keyTable {
	t := &keyTable{
		byPrefix: make(map[uint64]*keyEntry, len(entries)),
		byID:     make(map[string]*keyEntry, len(entries)),
	}
	for i := range entries {
		e := entries[i]
		p := digestPrefix(&e.digest)
		e.next = t.byPrefix[p]
		t.byPrefix[p] = &e
		t.byID[e.principal.KeyID] = &e
	}
	return t
}

// NewMemoryKeyStore builds a store from keys. It returns an error, naming
// the entry by index and key id (never the key), when an entry has no key
// or both forms, a key that is empty, too long or not visible ASCII, a
// malformed digest, no key id, an invalid scope, or when two entries share a
// key or a key id.
func NewMemoryKeyStore(keys []KeyConfig) (*MemoryKeyStore, error) {
	s := &MemoryKeyStore{}
	if err := s.Reload(keys); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload replaces the whole table with keys, validated as by
// [NewMemoryKeyStore]. On error the old table stays in place. Requests in
// flight finish with the table they started with.
func (s *MemoryKeyStore) Reload(keys []KeyConfig) error {
	t, err := buildKeyTable(keys)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.table.Store(t)
	s.mu.Unlock()
	return nil
}

// Revoke marks the key with id keyID as revoked, effective for every
// request that starts afterwards. It reports whether such a key exists.
func (s *MemoryKeyStore) Revoke(keyID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.table.Load()
	if old == nil {
		return false
	}
	e, ok := old.byID[keyID]
	if !ok {
		return false
	}
	if e.revoked {
		return true
	}
	entries := make([]keyEntry, 0, len(old.byID))
	for _, o := range old.byID {
		entries = append(entries, keyEntry{digest: o.digest, principal: o.principal,
			revoked: o.revoked || o.principal.KeyID == keyID})
	}
	s.table.Store(indexKeys(entries))
	return true
}

// Len returns the number of keys in the store, revoked ones included.
func (s *MemoryKeyStore) Len() int {
	t := s.table.Load()
	if t == nil {
		return 0
	}
	return len(t.byID)
}

// Lookup implements [KeyStore]. It returns the key's principal, or
// [ErrKeyNotFound], or the principal together with [ErrKeyRevoked].
//
// Timing: the key is hashed first (SHA-256, time depending only on its
// length, which the caller chose), the table is indexed by the first 8 bytes
// of the digest, and the whole digest of the entry found is compared with
// subtle.ConstantTimeCompare. The map lookup's timing can depend only on
// that digest prefix, and learning anything about the digests of stored
// keys gives no way to construct a key (that would need a SHA-256
// preimage). No byte of a stored secret is ever compared against input.
func (s *MemoryKeyStore) Lookup(_ context.Context, key string) (*principal.Principal, error) {
	t := s.table.Load()
	if t == nil {
		return nil, ErrKeyNotFound
	}
	d := digestKey(key)
	e := t.find(&d)
	if e == nil {
		return nil, ErrKeyNotFound
	}
	if e.revoked {
		return e.principal, ErrKeyRevoked
	}
	return e.principal, nil
}

// digestKey is sha256.Sum256 without the heap allocation []byte(key) costs
// for keys over 32 bytes: keys up to the authenticator's default length
// are copied into a stack buffer.
func digestKey(key string) [sha256.Size]byte {
	var buf [DefaultMaxKeyLength]byte
	if len(key) > len(buf) {
		return sha256.Sum256([]byte(key))
	}
	n := copy(buf[:], key)
	return sha256.Sum256(buf[:n])
}

func buildKeyTable(keys []KeyConfig) (*keyTable, error) {
	entries := make([]keyEntry, 0, len(keys))
	byID := make(map[string]bool, len(keys))
	byDigest := make(map[[sha256.Size]byte]string, len(keys)) // digest → key id
	for i, k := range keys {
		where := fmt.Sprintf("apiguard: key %d (key id %q)", i, k.KeyID)
		var d [sha256.Size]byte
		switch {
		case k.Key != "" && k.SHA256 != "":
			return nil, errors.New(where + ": set Key or SHA256, not both")
		case k.Key != "":
			if len(k.Key) > MaxStoredKeyLength {
				return nil, fmt.Errorf("%s: key longer than %d bytes", where, MaxStoredKeyLength)
			}
			if !visibleASCII(k.Key) {
				return nil, errors.New(where + ": key has characters other than visible ASCII")
			}
			d = sha256.Sum256([]byte(k.Key))
		case k.SHA256 != "":
			b, err := hex.DecodeString(k.SHA256)
			if err != nil || len(b) != sha256.Size {
				return nil, errors.New(where + ": SHA256 is not 64 hex digits")
			}
			copy(d[:], b)
		default:
			return nil, errors.New(where + ": empty key")
		}
		if k.KeyID == "" {
			return nil, fmt.Errorf("apiguard: key %d: empty key id", i)
		}
		if byID[k.KeyID] {
			return nil, errors.New(where + ": duplicate key id")
		}
		if prev, dup := byDigest[d]; dup {
			return nil, fmt.Errorf("%s: same key as key id %q", where, prev)
		}
		for _, sc := range k.Scopes {
			if !validScope(sc) {
				return nil, fmt.Errorf("%s: invalid scope %q", where, sc)
			}
		}
		tenant := k.Tenant
		if tenant == "" {
			tenant = k.KeyID
		}
		p := &principal.Principal{
			KeyID:  k.KeyID,
			Tenant: tenant,
			Scopes: slices.Clone(k.Scopes),
		}
		if len(k.Metadata) > 0 {
			p.Metadata = maps.Clone(k.Metadata)
		}
		entries = append(entries, keyEntry{digest: d, principal: p, revoked: k.Revoked})
		byID[k.KeyID] = true
		byDigest[d] = k.KeyID
	}
	return indexKeys(entries), nil
}
