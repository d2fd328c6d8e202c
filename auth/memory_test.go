package auth_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/internal/alloctest"
	"github.com/clipia/apiguard/principal"
)

func TestNewMemoryKeyStoreErrors(t *testing.T) {
	digest := auth.HashKey("sk_a")
	tests := []struct {
		name    string
		keys    []auth.KeyConfig
		wantErr string // "" for success
	}{
		{"empty table", nil, ""},
		{"demo table", authDemoKeys(), ""},
		{"digest form", []auth.KeyConfig{{SHA256: digest, KeyID: "a"}}, ""},
		{"digest upper case hex", []auth.KeyConfig{{SHA256: strings.ToUpper(digest), KeyID: "a"}}, ""},
		{"empty key", []auth.KeyConfig{{KeyID: "a"}}, "empty key"},
		{"key and digest", []auth.KeyConfig{{Key: "sk_a", SHA256: digest, KeyID: "a"}}, "not both"},
		{"short digest", []auth.KeyConfig{{SHA256: digest[:62], KeyID: "a"}}, "64 hex"},
		{"non-hex digest", []auth.KeyConfig{{SHA256: strings.Repeat("z", 64), KeyID: "a"}}, "64 hex"},
		{"no key id", []auth.KeyConfig{{Key: "sk_a"}}, "empty key id"},
		{"duplicate key", []auth.KeyConfig{{Key: "sk_a", KeyID: "a"}, {Key: "sk_a", KeyID: "b"}}, `same key as key id "a"`},
		{"duplicate key, once as digest", []auth.KeyConfig{{Key: "sk_a", KeyID: "a"}, {SHA256: digest, KeyID: "b"}}, "same key"},
		{"duplicate key id", []auth.KeyConfig{{Key: "sk_a", KeyID: "a"}, {Key: "sk_b", KeyID: "a"}}, "duplicate key id"},
		{"space in key", []auth.KeyConfig{{Key: "sk a", KeyID: "a"}}, "visible ASCII"},
		{"control character in key", []auth.KeyConfig{{Key: "sk\x00", KeyID: "a"}}, "visible ASCII"},
		{"key too long", []auth.KeyConfig{{Key: strings.Repeat("k", auth.MaxStoredKeyLength+1), KeyID: "a"}}, "longer than"},
		{"longest key", []auth.KeyConfig{{Key: strings.Repeat("k", auth.MaxStoredKeyLength), KeyID: "a"}}, ""},
		{"empty scope", []auth.KeyConfig{{Key: "sk_a", KeyID: "a", Scopes: []string{""}}}, "invalid scope"},
		{"scope with space", []auth.KeyConfig{{Key: "sk_a", KeyID: "a", Scopes: []string{"a b"}}}, "invalid scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := auth.NewMemoryKeyStore(tt.keys)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				if got := s.Len(); got != len(tt.keys) {
					t.Errorf("got Len %d, want %d", got, len(tt.keys))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
			if s != nil {
				t.Errorf("got a store along with the error")
			}
			for _, k := range tt.keys {
				if k.Key != "" && strings.Contains(err.Error(), k.Key) {
					t.Errorf("the error %q contains the key", err)
				}
			}
		})
	}
}

func TestMemoryKeyStoreLookup(t *testing.T) {
	keys := append(authDemoKeys(),
		auth.KeyConfig{SHA256: auth.HashKey("sk_hashed"), KeyID: "key_hashed", Metadata: map[string]string{"plan": "pro"}},
	)
	s := must(auth.NewMemoryKeyStore(keys))
	tests := []struct {
		name    string
		key     string
		want    *principal.Principal
		wantErr error
	}{
		{"valid", "sk_test_full", &principal.Principal{KeyID: "key_full", Tenant: "acme",
			Scopes: []string{"models:read", "generations:read", "generations:write"}}, nil},
		{"configured as digest, tenant defaults to key id", "sk_hashed", &principal.Principal{KeyID: "key_hashed", Tenant: "key_hashed",
			Metadata: map[string]string{"plan": "pro"}}, nil},
		{"revoked returns its principal", "sk_test_revoked", &principal.Principal{KeyID: "key_revoked", Tenant: "acme",
			Scopes: []string{"models:read", "generations:read", "generations:write"}}, auth.ErrKeyRevoked},
		{"unknown", "sk_test_nope", nil, auth.ErrKeyNotFound},
		{"empty", "", nil, auth.ErrKeyNotFound},
		{"case matters", "SK_TEST_FULL", nil, auth.ErrKeyNotFound},
		{"longer than the stack buffer", strings.Repeat("x", 2000), nil, auth.ErrKeyNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Lookup(context.Background(), tt.key)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got principal %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestMemoryKeyStoreCopiesConfig: changing the config after loading changes
// nothing in the store.
func TestMemoryKeyStoreCopiesConfig(t *testing.T) {
	scopes := []string{"a"}
	meta := map[string]string{"k": "v"}
	s := must(auth.NewMemoryKeyStore([]auth.KeyConfig{{Key: "sk", KeyID: "id", Scopes: scopes, Metadata: meta}}))
	scopes[0] = "admin"
	meta["k"] = "changed"
	p, err := s.Lookup(context.Background(), "sk")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Scopes[0]; got != "a" {
		t.Errorf("got scope %q after changing the config, want %q", got, "a")
	}
	if got := p.Metadata["k"]; got != "v" {
		t.Errorf("got metadata %q after changing the config, want %q", got, "v")
	}
}

func TestMemoryKeyStoreRevokeAndReload(t *testing.T) {
	ctx := context.Background()
	s := must(auth.NewMemoryKeyStore(authDemoKeys()))
	if got := s.Revoke("key_nope"); got {
		t.Errorf("Revoke of an unknown id: got true, want false")
	}
	if got := s.Revoke("key_full"); !got {
		t.Errorf("Revoke: got false, want true")
	}
	if got := s.Revoke("key_full"); !got {
		t.Errorf("second Revoke: got false, want true")
	}
	if _, err := s.Lookup(ctx, "sk_test_full"); !errors.Is(err, auth.ErrKeyRevoked) {
		t.Errorf("after Revoke: got %v, want ErrKeyRevoked", err)
	}
	if _, err := s.Lookup(ctx, "sk_test_other"); err != nil {
		t.Errorf("other key after Revoke: got %v, want nil", err)
	}
	if err := s.Reload([]auth.KeyConfig{{Key: "sk_new", KeyID: "new"}, {Key: "sk_new", KeyID: "dup"}}); err == nil {
		t.Fatalf("Reload with a duplicate: got nil, want an error")
	}
	if _, err := s.Lookup(ctx, "sk_test_other"); err != nil {
		t.Errorf("after a failed Reload: got %v, want the old table", err)
	}
	if err := s.Reload([]auth.KeyConfig{{Key: "sk_new", KeyID: "new"}}); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if _, err := s.Lookup(ctx, "sk_test_other"); !errors.Is(err, auth.ErrKeyNotFound) {
		t.Errorf("old key after Reload: got %v, want ErrKeyNotFound", err)
	}
	if p, err := s.Lookup(ctx, "sk_new"); err != nil || p.KeyID != "new" {
		t.Errorf("new key after Reload: got %v, %v", p, err)
	}

	var zero auth.MemoryKeyStore
	if _, err := zero.Lookup(ctx, "sk_test_full"); !errors.Is(err, auth.ErrKeyNotFound) {
		t.Errorf("zero store: got %v, want ErrKeyNotFound", err)
	}
	if zero.Revoke("key_full") || zero.Len() != 0 {
		t.Errorf("zero store: want an empty store")
	}
}

// TestMemoryKeyStoreConcurrent runs lookups against revocations and reloads
// (run with -race).
func TestMemoryKeyStoreConcurrent(t *testing.T) {
	s := must(auth.NewMemoryKeyStore(authDemoKeys()))
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for i := 0; i < 500; i++ {
				p, err := s.Lookup(ctx, "sk_test_other")
				if err != nil || p.Tenant != "globex" {
					t.Errorf("got %v, %v; want the globex principal", p, err)
					return
				}
			}
		})
	}
	for i := 0; i < 50; i++ {
		s.Revoke("key_full")
		if err := s.Reload(authDemoKeys()); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}

func TestMemoryKeyStoreLookupAllocs(t *testing.T) {
	long := "sk_live_" + strings.Repeat("a", 200)
	s := must(auth.NewMemoryKeyStore([]auth.KeyConfig{{Key: "sk_test_full", KeyID: "a"}, {Key: long, KeyID: "b"}}))
	ctx := context.Background()
	for _, key := range []string{"sk_test_full", long, "unknown"} {
		allocs := alloctest.PerRun(100, func() { _, _ = s.Lookup(ctx, key) })
		if allocs != 0 {
			t.Errorf("Lookup of a %d-byte key: got %v allocs, want 0", len(key), allocs)
		}
	}
}

func TestHashKey(t *testing.T) {
	for _, key := range []string{"", "sk_test_full"} {
		sum := sha256.Sum256([]byte(key))
		if got, want := auth.HashKey(key), hex.EncodeToString(sum[:]); got != want {
			t.Errorf("HashKey(%q) = %s, want %s", key, got, want)
		}
	}
	if got, want := auth.HashKey(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; got != want {
		t.Errorf("HashKey(\"\") = %s, want the known SHA-256 %s", got, want)
	}
}

func TestKeyStoreFunc(t *testing.T) {
	want := &principal.Principal{KeyID: "x"}
	var gotKey string
	f := auth.KeyStoreFunc(func(_ context.Context, key string) (*principal.Principal, error) {
		gotKey = key
		return want, nil
	})
	var s auth.KeyStore = f
	p, err := s.Lookup(context.Background(), "k")
	if p != want || err != nil || gotKey != "k" {
		t.Errorf("got %v, %v, key %q; want the function's result for key k", p, err, gotKey)
	}
}
