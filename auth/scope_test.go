package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/alloctest"
	"github.com/clipia/apiguard/principal"
)

// scopeResult is "" for nil, else "<code>: <message>".
func scopeResult(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var ae *errorsx.Error
	if !errors.As(err, &ae) {
		t.Fatalf("got %v, want an *errorsx.Error", err)
	}
	return string(ae.Code()) + ": " + ae.Message()
}

func ptr(s string) *string { return &s }

func TestScopesCheck(t *testing.T) {
	const noKey = "invalid_api_key: The API key is missing, invalid or revoked."
	tests := []struct {
		name   string
		sc     *auth.Scopes
		scopes *string // nil: no principal
		want   string
	}{
		{"all-of held", must(auth.RequireScopes("a", "b")), ptr("b a c"), ""},
		{"all-of one missing", must(auth.RequireScopes("a", "b")), ptr("a"),
			"insufficient_scope: This API key lacks the required scope: b"},
		{"all-of two missing, in declared order", must(auth.RequireScopes("b", "a", "c")), ptr("a"),
			"insufficient_scope: This API key lacks the required scopes: b, c"},
		{"all-of repeated scope named once", must(auth.RequireScopes("x", "x", "y")), ptr(""),
			"insufficient_scope: This API key lacks the required scopes: x, y"},
		{"all-of with a principal without scopes", must(auth.RequireScopes("a")), ptr(""),
			"insufficient_scope: This API key lacks the required scope: a"},
		{"scope names are case-sensitive", must(auth.RequireScopes("models:read")), ptr("Models:Read"),
			"insufficient_scope: This API key lacks the required scope: models:read"},
		{"no scopes needs a principal only", must(auth.RequireScopes()), ptr(""), ""},
		{"any-of first", must(auth.RequireAnyScope("a", "b")), ptr("a"), ""},
		{"any-of second", must(auth.RequireAnyScope("a", "b")), ptr("b"), ""},
		{"any-of none", must(auth.RequireAnyScope("a", "b")), ptr("c"),
			"insufficient_scope: This API key needs one of the scopes: a, b"},
		{"any-of empty list needs a principal only", must(auth.RequireAnyScope()), ptr(""), ""},
		{"all-of without principal fails closed", must(auth.RequireScopes("a")), nil, noKey},
		{"no scopes without principal fails closed", must(auth.RequireScopes()), nil, noKey},
		{"any-of without principal fails closed", must(auth.RequireAnyScope("a")), nil, noKey},
		{"config all and any, both met", must(auth.NewScopes(auth.ScopeConfig{All: []string{"a"}, Any: []string{"x", "y"}})), ptr("a y"), ""},
		{"config all and any, any unmet", must(auth.NewScopes(auth.ScopeConfig{All: []string{"a"}, Any: []string{"x", "y"}})), ptr("a"),
			"insufficient_scope: This API key needs one of the scopes: x, y"},
		{"config all and any, all unmet first", must(auth.NewScopes(auth.ScopeConfig{All: []string{"a"}, Any: []string{"x"}})), ptr("x"),
			"insufficient_scope: This API key lacks the required scope: a"},
		{"Check ignores Skip", must(auth.NewScopes(auth.ScopeConfig{All: []string{"a"}, Skip: func(*http.Request) bool { return true }})), nil, noKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.scopes != nil {
				ctx = principal.NewContext(ctx, &principal.Principal{KeyID: "k", Tenant: "t", Scopes: strings.Fields(*tt.scopes)})
			}
			if got := scopeResult(t, tt.sc.Check(ctx)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestScopesCheckRequest(t *testing.T) {
	sc := must(auth.NewScopes(auth.ScopeConfig{All: []string{"a"},
		Skip: func(r *http.Request) bool { return r.URL.Path == "/healthz" }}))
	if err := sc.CheckRequest(httptest.NewRequest(http.MethodGet, "/healthz", nil)); err != nil {
		t.Errorf("skipped: got %v, want nil", err)
	}
	if err := sc.CheckRequest(httptest.NewRequest(http.MethodGet, "/v1", nil)); !errors.Is(err, auth.ErrNoPrincipal) {
		t.Errorf("not skipped, no principal: got %v, want ErrNoPrincipal", err)
	}
	req := httptest.NewRequest(http.MethodGet, "/v1", nil)
	req = req.WithContext(principal.NewContext(req.Context(), &principal.Principal{KeyID: "k", Scopes: []string{"a"}}))
	if err := sc.CheckRequest(req); err != nil {
		t.Errorf("not skipped, scope held: got %v, want nil", err)
	}
}

func TestNewScopesErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     auth.ScopeConfig
		wantErr bool
	}{
		{"zero config", auth.ScopeConfig{}, false},
		{"valid", auth.ScopeConfig{All: []string{"generations:write"}, Any: []string{"a", "b"}}, false},
		{"empty in all", auth.ScopeConfig{All: []string{""}}, true},
		{"space in any", auth.ScopeConfig{Any: []string{"a b"}}, true},
		{"quote", auth.ScopeConfig{All: []string{`a"`}}, true},
		{"backslash", auth.ScopeConfig{All: []string{`a\b`}}, true},
		{"non-ASCII", auth.ScopeConfig{All: []string{"é"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := auth.NewScopes(tt.cfg)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if (sc == nil) != tt.wantErr {
				t.Errorf("got scopes %v with error %v", sc != nil, err)
			}
		})
	}
	for _, bad := range [][]string{{"a b"}, {""}, {"ok", `q"uote`}, {"\x7f"}} {
		if _, err := auth.RequireScopes(bad...); err == nil {
			t.Errorf("RequireScopes(%q): got no error", bad)
		}
		if _, err := auth.RequireAnyScope(bad...); err == nil {
			t.Errorf("RequireAnyScope(%q): got no error", bad)
		}
	}
}

// TestScopesNoPrincipalCause: the 401 of a scope check without auth carries
// ErrNoPrincipal for the log, so the misconfiguration is findable; a nil
// principal in the context counts as none.
func TestScopesNoPrincipalCause(t *testing.T) {
	sc := must(auth.RequireScopes("a"))
	for _, ctx := range []context.Context{context.Background(), principal.NewContext(context.Background(), nil)} {
		err := sc.Check(ctx)
		if !errors.Is(err, auth.ErrNoPrincipal) || !errors.Is(err, errorsx.InvalidAPIKey()) {
			t.Errorf("got %v, want invalid_api_key caused by ErrNoPrincipal", err)
		}
		if errors.Is(err, errorsx.ErrCredentialRejected) {
			t.Errorf("got %v marked as a rejected credential; no key was judged", err)
		}
	}
}

func TestScopesCheckAllocs(t *testing.T) {
	ctx := principal.NewContext(context.Background(), &principal.Principal{KeyID: "k", Scopes: []string{"a", "b"}})
	tests := []struct {
		name string
		sc   *auth.Scopes
		want error
	}{
		{"granted", must(auth.RequireScopes("a", "b")), nil},
		{"one missing", must(auth.RequireScopes("a", "c")), errorsx.InsufficientScope()},
		{"any-of missing", must(auth.RequireAnyScope("x", "y")), errorsx.InsufficientScope()},
		{"no principal", must(auth.RequireScopes("a")), errorsx.InvalidAPIKey()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ctx
			if tt.name == "no principal" {
				c = context.Background()
			}
			var err error
			allocs := alloctest.PerRun(100, func() { err = tt.sc.Check(c) })
			if !errors.Is(err, tt.want) && (err != nil || tt.want != nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if allocs != 0 {
				t.Errorf("got %v allocs per check, want 0", allocs)
			}
		})
	}
}
