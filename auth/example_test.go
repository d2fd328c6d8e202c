package auth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/principal"
)

// Authenticate in a plain net/http handler: the caller of a request, or the
// error to render (the front doors middleware.Auth, echo5.Auth and
// nethttp.Auth do this for you).
func ExampleAuthenticator_Authenticate() {
	store, err := auth.NewMemoryKeyStore([]auth.KeyConfig{
		{Key: "sk_test_full", KeyID: "key_full", Tenant: "acme", Scopes: []string{"generations:write"}},
		{Key: "sk_test_revoked", KeyID: "key_revoked", Tenant: "acme", Revoked: true},
	})
	if err != nil {
		panic(err)
	}
	a, err := auth.New(auth.Config{Store: store})
	if err != nil {
		panic(err)
	}
	write, err := auth.RequireScopes("generations:write")
	if err != nil {
		panic(err)
	}
	render := errorsx.NewRenderer(errorsx.HandlerConfig{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Authenticate(r)
		if err == nil {
			r = r.WithContext(principal.NewContext(r.Context(), p))
			err = write.Check(r.Context())
		}
		if err != nil {
			render.Write(w, r, "/v1/generations", err)
			return
		}
		fmt.Fprintln(w, "created for", p.Tenant)
	})
	for _, key := range []string{"sk_test_full", "sk_test_revoked"} {
		req := httptest.NewRequest(http.MethodPost, "/v1/generations", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body)
	}
	// Output:
	// 200 created for acme
	// 401 {"error":{"type":"authentication_error","code":"invalid_api_key","message":"The API key is missing, invalid or revoked."}}
}

// Keys can be configured by digest, so the configuration holds no secret.
// HashKey computes the digest offline.
func ExampleNewMemoryKeyStore() {
	fmt.Println(auth.HashKey("sk_test_full"))

	store, err := auth.NewMemoryKeyStore([]auth.KeyConfig{
		{SHA256: "4cd1c4ad0e3a8b2efe4d4ed2c0ae1ca8e1f62cb9e4c9c1c80f1aa8a2c1e1e4a0", KeyID: "key_a", Tenant: "acme"},
		{SHA256: auth.HashKey("sk_test_full"), KeyID: "key_full", Tenant: "acme"},
	})
	if err != nil {
		panic(err)
	}
	p, err := store.Lookup(context.Background(), "sk_test_full")
	fmt.Println(p.KeyID, p.Tenant, err)

	_, err = auth.NewMemoryKeyStore([]auth.KeyConfig{
		{Key: "sk_a", KeyID: "a"}, {Key: "sk_a", KeyID: "b"},
	})
	fmt.Println(err)
	// Output:
	// 7f2dcfc2cb7f67ad9765d9129c5aac345a244eb9e807b22242bf0f4bc924945c
	// key_full acme <nil>
	// apiguard: key 1 (key id "b"): same key as key id "a"
}

// A slow store (a database) behind a cache: the second lookup of a key
// within the TTL does not reach the store.
func ExampleNewCachedKeyStore() {
	calls := 0
	db := auth.KeyStoreFunc(func(ctx context.Context, key string) (*principal.Principal, error) {
		calls++ // a SELECT … WHERE key_sha256 = $1 in a real app
		if key == "sk_test_full" {
			return &principal.Principal{KeyID: "key_full", Tenant: "acme"}, nil
		}
		return nil, auth.ErrKeyNotFound
	})
	store, err := auth.NewCachedKeyStore(db, auth.CacheConfig{TTL: time.Minute})
	if err != nil {
		panic(err)
	}
	for range 3 {
		p, _ := store.Lookup(context.Background(), "sk_test_full")
		fmt.Println(p.KeyID)
	}
	fmt.Println("store calls:", calls)
	// Output:
	// key_full
	// key_full
	// key_full
	// store calls: 1
}
