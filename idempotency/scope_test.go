package idempotency_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/principal"
)

func TestDefaultScope(t *testing.T) {
	fromXFF := func(r *http.Request) string { return r.Header.Get("X-Forwarded-For") }
	tests := []struct {
		name       string
		principal  *principal.Principal
		clientIP   func(*http.Request) string
		remoteAddr string
		xff        string
		want       string
	}{
		{"tenant", &principal.Principal{KeyID: "key_1", Tenant: "acme"}, nil, "", "", "tenant:acme"},
		{"key id without tenant", &principal.Principal{KeyID: "key_1"}, nil, "", "", "key:key_1"},
		{"the principal wins over ClientIP", &principal.Principal{Tenant: "acme"}, fromXFF, "", "203.0.113.9", "tenant:acme"},
		{"no principal: the peer address", nil, nil, "", "", "ip:192.0.2.7"},
		{"a peer address without a port", nil, nil, "192.0.2.8", "", "ip:192.0.2.8"},
		{"a bad peer address", nil, nil, "nonsense", "", "ip:"},
		{"X-Forwarded-For is not trusted by default", nil, nil, "", "203.0.113.9", "ip:192.0.2.7"},
		{"ClientIP is used", nil, fromXFF, "", "203.0.113.9", "ip:203.0.113.9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.RemoteAddr = "192.0.2.7:5555"
			if tc.remoteAddr != "" {
				r.RemoteAddr = tc.remoteAddr
			}
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if tc.principal != nil {
				r = r.WithContext(principal.NewContext(r.Context(), tc.principal))
			}
			got, err := idempotency.DefaultScope(r, tc.clientIP)
			if err != nil || got != tc.want {
				t.Fatalf("DefaultScope: got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestConfigClientIP: without a Scope, the guard scopes unauthenticated
// requests by Config.ClientIP.
func TestConfigClientIP(t *testing.T) {
	var calls int
	e := newApp(t, idempotency.Config{ClientIP: func(r *http.Request) string { return r.Header.Get("X-Client") }},
		func(w http.ResponseWriter, r *http.Request) error {
			calls++
			return created(w, `{}`)
		})
	steps := []struct {
		client       string
		wantReplayed string
		wantCalls    int
	}{
		{"a", "", 1},
		{"a", "true", 1},
		{"b", "", 2},
	}
	for i, s := range steps {
		rec := do(e, req{Key: "k", Headers: map[string]string{"X-Client": s.client}})
		if rec.Code != 201 || rec.Header().Get(idempotency.HeaderIdempotentReplayed) != s.wantReplayed || calls != s.wantCalls {
			t.Errorf("step %d: got %d replayed=%q calls %d; want replayed=%q calls %d", i, rec.Code,
				rec.Header().Get(idempotency.HeaderIdempotentReplayed), calls, s.wantReplayed, s.wantCalls)
		}
	}
}
