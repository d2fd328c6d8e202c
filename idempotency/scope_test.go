package idempotency_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/middleware"
	"github.com/clipia/apiguard/principal"
	"github.com/labstack/echo/v4"
)

func TestDefaultScope(t *testing.T) {
	tests := []struct {
		name      string
		principal *principal.Principal
		extractor echo.IPExtractor
		xff       string
		want      string
	}{
		{"tenant", &principal.Principal{KeyID: "key_1", Tenant: "acme"}, nil, "", "tenant:acme"},
		{"key id without tenant", &principal.Principal{KeyID: "key_1"}, nil, "", "key:key_1"},
		{"no principal: the peer address", nil, nil, "", "ip:192.0.2.7"},
		{"X-Forwarded-For is not trusted by default", nil, nil, "203.0.113.9", "ip:192.0.2.7"},
		{"the app's IPExtractor is used", nil, echo.ExtractIPFromXFFHeader(echo.TrustIPRange(mustCIDR(t, "192.0.2.0/24"))), "203.0.113.9", "ip:203.0.113.9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := echo.New()
			e.IPExtractor = tc.extractor
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.RemoteAddr = "192.0.2.7:5555"
			if tc.xff != "" {
				r.Header.Set(echo.HeaderXForwardedFor, tc.xff)
			}
			c := e.NewContext(r, httptest.NewRecorder())
			if tc.principal != nil {
				middleware.SetPrincipal(c, tc.principal)
			}
			got, err := idempotency.DefaultScope(c)
			if err != nil || got != tc.want {
				t.Fatalf("DefaultScope: got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestCustomScope(t *testing.T) {
	var calls atomic.Int32
	e := newEcho(t, idempotency.Config{Scope: func(c echo.Context) (string, error) {
		org := c.Request().Header.Get("X-Org")
		if org == "" {
			return "", errorsx.InvalidAPIKey().WithCause(errors.New("no org"))
		}
		return "org:" + org, nil
	}}, func(c echo.Context) error {
		calls.Add(1)
		return c.String(201, "ok")
	})
	tests := []struct {
		name         string
		org          string
		wantStatus   int
		wantReplayed string
		wantCalls    int32
	}{
		{"scope error is rendered", "", 401, "", 0},
		{"first org runs", "o1", 201, "", 1},
		{"first org replays", "o1", 201, "true", 1},
		{"second org runs", "o2", 201, "", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(e, req{key: "k", headers: map[string]string{"X-Org": tc.org}})
			if rec.Code != tc.wantStatus || rec.Header().Get(idempotency.HeaderIdempotentReplayed) != tc.wantReplayed {
				t.Fatalf("got %d replayed=%q, want %d replayed=%q", rec.Code, rec.Header().Get(idempotency.HeaderIdempotentReplayed), tc.wantStatus, tc.wantReplayed)
			}
			if got := calls.Load(); got != tc.wantCalls {
				t.Errorf("handler calls: got %d, want %d", got, tc.wantCalls)
			}
		})
	}
}

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
