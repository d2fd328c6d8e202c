package app

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/ratelimit"
)

// TestNewSharesInjectedStores builds two apps with New on the same
// caller-owned stores, as two servers on one Redis would run: a key's
// result is replayed by the other app, and the per-key limit is shared.
// Close leaves the stores open.
func TestNewSharesInjectedStores(t *testing.T) {
	rl := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{})
	t.Cleanup(func() { rl.Close() })
	is := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
	t.Cleanup(func() { is.Close() })

	var urls []string
	for range 2 {
		cfg := defaultConfig(t)
		// One token per 10 s: no refill between the three requests.
		cfg.Rate, cfg.Burst, cfg.WorkDelay = 0.1, 2, 0
		cfg.RateLimitStore, cfg.IdempotencyStore = rl, is
		a, err := New(context.Background(), cfg, nil)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		srv := httptest.NewServer(a.Handler())
		t.Cleanup(func() {
			srv.Close()
			if err := a.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		urls = append(urls, srv.URL)
	}

	first := do(t, urls[0], post("sk_test_full", okBody, "shared-key"))
	if first.status != http.StatusCreated {
		t.Fatalf("first app: %d %s, want 201", first.status, first.body)
	}
	second := do(t, urls[1], post("sk_test_full", okBody, "shared-key"))
	if second.status != http.StatusCreated || second.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("second app: %d, Idempotent-Replayed %q, want the first app's 201 replayed",
			second.status, second.header.Get("Idempotent-Replayed"))
	}
	if string(second.body) != string(first.body) {
		t.Errorf("replay body %s, want %s", second.body, first.body)
	}
	// The burst of 2 is spent across both apps: the third request is 429.
	if r := do(t, urls[1], req{path: "/v1/models", key: "sk_test_full"}); r.status != http.StatusTooManyRequests {
		t.Errorf("third request, on the shared bucket: %d %s, want 429", r.status, r.body)
	}
}

// TestNewGenerate checks Config.Generate: it runs once per generation with
// the prompt (not for a replay), and its error fails the request with a
// sanitised 500 and refunds the credits.
func TestNewGenerate(t *testing.T) {
	var (
		mu      sync.Mutex
		prompts []string
	)
	cfg := defaultConfig(t)
	cfg.Generate = func(ctx context.Context, prompt string) error {
		mu.Lock()
		prompts = append(prompts, prompt)
		mu.Unlock()
		if prompt == "fail" {
			return errors.New("backend: dial tcp 10.1.2.3:9000: connection refused")
		}
		return ctx.Err()
	}
	a, err := New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() { srv.Close(); _ = a.Close() })

	for range 2 { // the second is a replay
		if r := do(t, srv.URL, post("sk_test_full", `{"model":"clipia-fast","prompt":"a cat","duration":3}`, "gen-key")); r.status != http.StatusCreated {
			t.Fatalf("generation: %d %s, want 201", r.status, r.body)
		}
	}
	before := balanceOf(t, srv.URL, "sk_test_full")
	r := do(t, srv.URL, post("sk_test_full", `{"model":"clipia-fast","prompt":"fail","duration":3}`, ""))
	if r.status != http.StatusInternalServerError {
		t.Fatalf("failing generation: %d %s, want 500", r.status, r.body)
	}
	if e := envelope(t, r, false); e.Code != "internal_error" || strings.Contains(string(r.body), "10.1.2.3") {
		t.Errorf("failing generation: %s, want a sanitised internal_error", r.body)
	}
	if got := balanceOf(t, srv.URL, "sk_test_full"); got != before {
		t.Errorf("balance after a failed generation = %d, want %d (refunded)", got, before)
	}
	mu.Lock()
	defer mu.Unlock()
	if got, want := strings.Join(prompts, ","), "a cat,fail"; got != want {
		t.Errorf("Generate ran for %q, want %q (once per generation, none for the replay)", got, want)
	}
}

// TestNewChecksConfig checks that New refuses what ParseConfig refuses.
func TestNewChecksConfig(t *testing.T) {
	if _, err := New(context.Background(), Config{}, nil); err == nil || !strings.Contains(err.Error(), "-rate must be above 0") {
		t.Errorf("New(Config{}) error %v, want -rate must be above 0", err)
	}
	cfg := defaultConfig(t)
	cfg.WriteTimeout = cfg.ReadTimeout
	if _, err := New(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "-write-timeout") {
		t.Errorf("New with a short write timeout: error %v, want one about -write-timeout", err)
	}
}

// defaultConfig is the configuration of the server's flags' defaults.
func defaultConfig(t *testing.T) Config {
	t.Helper()
	cfg, err := ParseConfig(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
