package principal_test

import (
	"context"
	"testing"

	"github.com/clipia/apiguard/internal/alloctest"
	"github.com/clipia/apiguard/principal"
)

func TestFromContext(t *testing.T) {
	p := &principal.Principal{KeyID: "key_1", Tenant: "acme", Scopes: []string{"models:read"}}
	base := context.Background()

	if got, ok := principal.FromContext(base); ok || got != nil {
		t.Errorf("empty context: got %v, %v; want nil, false", got, ok)
	}
	ctx := principal.NewContext(base, p)
	if got, ok := principal.FromContext(ctx); !ok || got != p {
		t.Errorf("got %v, %v; want the stored principal, true", got, ok)
	}
	// A nil principal is no principal.
	if got, ok := principal.FromContext(principal.NewContext(ctx, nil)); ok || got != nil {
		t.Errorf("nil principal: got %v, %v; want nil, false", got, ok)
	}
	// The innermost principal wins; derived contexts keep it.
	q := &principal.Principal{KeyID: "key_2"}
	inner, cancel := context.WithCancel(principal.NewContext(ctx, q))
	defer cancel()
	if got, _ := principal.FromContext(inner); got != q {
		t.Errorf("derived context: got %v, want the innermost principal", got)
	}
	// The parent is unchanged.
	if got, _ := principal.FromContext(ctx); got != p {
		t.Errorf("parent context: got %v, want the first principal", got)
	}
	// Another package's value under a string key of the same text does not
	// look like a principal.
	type otherKey string
	odd := context.WithValue(base, otherKey("principal"), p)
	if _, ok := principal.FromContext(odd); ok {
		t.Error("a value under another key was read as the principal")
	}
}

func TestHasScope(t *testing.T) {
	p := &principal.Principal{Scopes: []string{"a", "b"}}
	for _, tc := range []struct {
		p     *principal.Principal
		scope string
		want  bool
	}{
		{p, "a", true},
		{p, "b", true},
		{p, "c", false},
		{p, "", false},
		{&principal.Principal{}, "a", false},
		{nil, "a", false},
	} {
		if got := tc.p.HasScope(tc.scope); got != tc.want {
			t.Errorf("%v.HasScope(%q) = %v, want %v", tc.p, tc.scope, got, tc.want)
		}
	}
}

// BenchmarkFromContext reads the principal back from a request-like context
// a few layers deep; it must not allocate.
func BenchmarkFromContext(b *testing.B) {
	ctx := principal.NewContext(context.Background(), &principal.Principal{KeyID: "key_1"})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type k struct{}
	ctx = context.WithValue(ctx, k{}, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := principal.FromContext(ctx); !ok {
			b.Fatal("no principal")
		}
	}
}

func TestFromContextAllocs(t *testing.T) {
	ctx := principal.NewContext(context.Background(), &principal.Principal{KeyID: "key_1"})
	if n := alloctest.PerRun(100, func() { principal.FromContext(ctx) }); n != 0 {
		t.Errorf("FromContext allocates %v times, want 0", n)
	}
}
