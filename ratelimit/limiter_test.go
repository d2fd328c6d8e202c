package ratelimit_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/alloctest"
	"github.com/clipia/apiguard/internal/ratelimittest"
	"github.com/clipia/apiguard/principal"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/storetest"
)

// TestLimiter runs the limiter's behaviour table through every front door.
func TestLimiter(t *testing.T) { ratelimittest.Run(t) }

// BenchmarkLimiter measures the limiter through every front door.
func BenchmarkLimiter(b *testing.B) { ratelimittest.Bench(b) }

// Limit's results as values: nil to proceed, the errors the front doors
// render, and headers on w only.
func TestLimitResults(t *testing.T) {
	clock := &storetest.Clock{}
	s := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{Now: clock.Now})
	defer s.Close()
	l, err := ratelimit.New(ratelimit.Config{
		Policies: []ratelimit.Policy{ratelimit.PerSecond("p", 1, 2)},
		Store:    s,
		CostFunc: func(r *http.Request) (int64, error) {
			if r.URL.RawQuery == "big" {
				return 3, nil
			}
			return 1, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	limit := func(q string) (http.Header, error) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/x?"+q, nil)
		err := l.Limit(w, r, "/x")
		if w.Body.Len() != 0 || w.Code != http.StatusOK {
			t.Errorf("Limit wrote a response: %d %q", w.Code, w.Body)
		}
		return w.Header(), err
	}
	for i, want := range []string{`"p";r=1;t=1`, `"p";r=0;t=1`} {
		h, err := limit("")
		if err != nil || h.Get("RateLimit") != want || h.Get("RateLimit-Policy") != `"p";q=2;w=2` {
			t.Fatalf("request %d: got %v, %v; want nil and RateLimit %s", i, err, h, want)
		}
	}
	h, err := limit("")
	var e *errorsx.Error
	if !errors.As(err, &e) || e.Status() != http.StatusTooManyRequests || e.RetryAfter() != time.Second {
		t.Fatalf("got %v, want a 429 with Retry-After 1s", err)
	}
	if h.Get("RateLimit") != `"p";r=0;t=1` {
		t.Errorf("429: got RateLimit %q, want the refusing policy", h.Get("RateLimit"))
	}
	if h.Get("Retry-After") != "" {
		t.Errorf("Limit set Retry-After %q; the renderer does", h.Get("Retry-After"))
	}
	if _, err := limit("big"); !errors.As(err, &e) || e.Status() != http.StatusBadRequest || !errors.As(err, new(*ratelimit.CostError)) {
		t.Fatalf("got %v, want a 400 caused by a *CostError", err)
	}
}

func TestDefaultKey(t *testing.T) {
	req := func(addr, keyID string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = addr
		r.Header.Set("X-Forwarded-For", "203.0.113.9")
		if keyID != "-" {
			r = r.WithContext(principal.NewContext(r.Context(), &principal.Principal{KeyID: keyID}))
		}
		return r
	}
	fixed := func(*http.Request) string { return "198.51.100.1" }
	for _, tc := range []struct {
		name     string
		r        *http.Request
		clientIP func(*http.Request) string
		want     string
	}{
		{"peer_ipv4", req("192.0.2.1:1234", "-"), nil, "ip:192.0.2.1"},
		{"peer_ipv6_is_its_64", req("[2001:db8::1]:443", "-"), nil, "ip:2001:db8::/64"},
		{"peer_ipv6_same_64", req("[2001:db8:0:0:ffff:1:2:3]:443", "-"), nil, "ip:2001:db8::/64"},
		{"peer_ipv4_mapped_is_ipv4", req("[::ffff:192.0.2.7]:443", "-"), nil, "ip:192.0.2.7"},
		{"peer_without_port", req("192.0.2.1", "-"), nil, "ip:192.0.2.1"},
		{"key_id", req("192.0.2.1:1234", "key_1"), nil, "key:key_1"},
		{"empty_key_id_is_the_ip", req("192.0.2.1:1234", ""), nil, "ip:192.0.2.1"},
		{"configured_client_ip", req("192.0.2.1:1234", "-"), fixed, "ip:198.51.100.1"},
		{"key_id_wins_over_client_ip", req("192.0.2.1:1234", "key_2"), fixed, "key:key_2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ratelimit.DefaultKeyFunc(tc.clientIP)(tc.r)
			if err != nil || got != tc.want {
				t.Errorf("DefaultKeyFunc: got %q, %v; want %q", got, err, tc.want)
			}
			if tc.clientIP == nil {
				if got, err := ratelimit.DefaultKey(tc.r); err != nil || got != tc.want {
					t.Errorf("DefaultKey: got %q, %v; want %q", got, err, tc.want)
				}
			}
		})
	}
}

func TestIPKey(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		bits int
		want string
	}{
		{"192.0.2.1", 64, "ip:192.0.2.1"},
		{"192.0.2.1", 128, "ip:192.0.2.1"},
		{"::ffff:192.0.2.1", 64, "ip:192.0.2.1"},
		{"::ffff:192.0.2.1", 128, "ip:192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", 64, "ip:2001:db8:1:2::/64"},
		{"2001:db8:1:2:3:4:5:6", 0, "ip:2001:db8:1:2::/64"},
		{"2001:db8:1:2:3:4:5:6", 200, "ip:2001:db8:1:2::/64"},
		{"2001:db8:1:2:3:4:5:6", 48, "ip:2001:db8:1::/48"},
		{"2001:db8:1:2:3:4:5:6", 56, "ip:2001:db8:1::/56"},
		{"2001:0db8:0001:0002:0003:0004:0005:0006", 128, "ip:2001:db8:1:2:3:4:5:6"},
		{"fe80::1%eth0", 128, "ip:fe80::1"},
		{"fe80::1:2:3:4%eth0", 64, "ip:fe80::/64"},
		{"not:an:ip", 64, "ip:not:an:ip"},
		{"", 64, "ip:"},
	} {
		if got := ratelimit.IPKey(tc.ip, tc.bits); got != tc.want {
			t.Errorf("IPKey(%q, %d) = %q, want %q", tc.ip, tc.bits, got, tc.want)
		}
	}
	if n := alloctest.PerRun(100, func() { _ = ratelimit.IPKey("2001:db8:1:2:3:4:5:6", 64) }); n != 1 {
		t.Errorf("IPKey allocates %v times, want 1 (the string)", n)
	}
}

// Pass-through paths allocate nothing in the limiter.
func TestLimitSkipAllocs(t *testing.T) {
	l, err := ratelimit.New(ratelimit.Config{
		Policies: []ratelimit.Policy{ratelimit.PerSecond("p", 1, 1)},
		Skip:     func(*http.Request) bool { return true },
	})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if n := alloctest.PerRun(100, func() {
		if err := l.Limit(w, r, "/"); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("a skipped request allocates %v times, want 0", n)
	}
	if len(w.Header()) != 0 {
		t.Errorf("a skipped request got headers %v", w.Header())
	}
}

// The core imports no web framework.
func TestNoFramework(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found:", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", "github.com/clipia/apiguard/ratelimit", "github.com/clipia/apiguard/ratelimit/storetest", "github.com/clipia/apiguard/ratelimit/concstoretest").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/labstack/") || strings.HasPrefix(pkg, "github.com/clipia/apiguard/middleware") ||
			strings.HasPrefix(pkg, "github.com/clipia/apiguard/echo5") || strings.HasPrefix(pkg, "github.com/clipia/apiguard/nethttp") {
			t.Errorf("ratelimit depends on %s", pkg)
		}
	}
}
