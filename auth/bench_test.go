package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/principal"
)

// BenchmarkMemoryKeyStoreLookup is the store alone: one SHA-256 and one map
// lookup.
func BenchmarkMemoryKeyStoreLookup(b *testing.B) {
	s := must(auth.NewMemoryKeyStore(authDemoKeys()))
	ctx := b.Context()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Lookup(ctx, "sk_test_full"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAuthenticate is the core without a front door: read the key,
// look it up, then check a scope of the principal.
func BenchmarkAuthenticate(b *testing.B) {
	a := must(auth.New(auth.Config{Store: must(auth.NewMemoryKeyStore(authDemoKeys()))}))
	sc := must(auth.RequireScopes("models:read"))
	for _, tt := range []struct{ name, authorization string }{
		{"accept", "Bearer sk_test_full"}, {"reject", "Bearer sk_test_nope"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
				req.Header.Set("Authorization", tt.authorization)
				for pb.Next() {
					p, err := a.Authenticate(req)
					if err == nil {
						err = sc.Check(principal.NewContext(context.Background(), p))
					}
					if (err == nil) != (tt.name == "accept") {
						b.Errorf("got %v", err)
						return
					}
				}
			})
		})
	}
}
