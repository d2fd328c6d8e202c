package idempotency_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/internal/alloctest"
	"github.com/clipia/apiguard/internal/idemtest"
)

// TestGuardBehaviour runs the guard's behaviour table through every front
// door, against every store kind.
func TestGuardBehaviour(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			idemtest.Run(t, sk.new)
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  idempotency.Config
	}{
		{"negative retention", idempotency.Config{Retention: -1}},
		{"negative lease", idempotency.Config{Lease: -1}},
		{"negative retry after", idempotency.Config{RetryAfter: -1}},
		{"negative request body", idempotency.Config{MaxRequestBody: -1}},
		{"negative response size", idempotency.Config{MaxResponseSize: -1}},
		{"empty method", idempotency.Config{Methods: []string{"POST", " "}}},
		{"Set-Cookie stored", idempotency.Config{StoredHeaders: []string{"set-cookie"}}},
		{"Date stored", idempotency.Config{StoredHeaders: []string{"Date"}}},
		{"X-Request-Id stored", idempotency.Config{StoredHeaders: []string{"X-Request-ID"}}},
		{"RateLimit stored", idempotency.Config{StoredHeaders: []string{"RateLimit-Policy"}}},
		{"Retry-After stored", idempotency.Config{StoredHeaders: []string{"Retry-After"}}},
		{"empty header", idempotency.Config{StoredHeaders: []string{""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := idempotency.New(tc.cfg)
			if err == nil || g != nil {
				t.Fatalf("New: got (%v, %v), want an error", g != nil, err)
			}
		})
	}
	if g, err := idempotency.New(idempotency.Config{}); err != nil || g == nil {
		t.Fatalf("New of the zero Config: got (%v, %v), want a guard", g, err)
	}
}

func TestCancelledRequestIsNotStored(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			var calls atomic.Int32
			ctx, cancel := context.WithCancel(context.Background())
			e := newApp(t, idempotency.Config{Store: sk.new(t)}, func(w http.ResponseWriter, r *http.Request) error {
				if calls.Add(1) == 1 {
					cancel() // the client goes away while the handler runs
				}
				return created(w, `{}`)
			})
			doCtx(e, ctx, req{Key: "k"})
			rec := do(e, req{Key: "k"})
			if rec.Code != 201 || rec.Header().Get(idempotency.HeaderIdempotentReplayed) != "" {
				t.Fatalf("retry: got %d replayed=%q, want a fresh 201", rec.Code, rec.Header().Get(idempotency.HeaderIdempotentReplayed))
			}
			if got := calls.Load(); got != 2 {
				t.Errorf("handler calls: got %d, want 2", got)
			}
		})
	}
}

// TestHeadReplayHasNoBody: a guarded HEAD is replayed with the stored
// status and headers, Content-Length included, and no body.
func TestHeadReplayHasNoBody(t *testing.T) {
	g, err := idempotency.New(idempotency.Config{Methods: []string{"HEAD", "POST"}})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := serve(g, w, r, "/x", func(w http.ResponseWriter, r *http.Request) error {
			calls.Add(1)
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", "5")
			w.WriteHeader(200)
			if r.Method != http.MethodHead {
				_, _ = io.WriteString(w, "hello")
			}
			return nil
		}, func(http.ResponseWriter, *http.Request, error) { t.Error("render called") })
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	send := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodHead, "/x", nil)
		r.Header.Set(idempotency.HeaderIdempotencyKey, "k")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	send()
	rec := send()
	if rec.Code != 200 || rec.Header().Get(idempotency.HeaderIdempotentReplayed) != "true" || rec.Body.Len() != 0 {
		t.Fatalf("HEAD replay: got %d replayed=%q body %q", rec.Code, rec.Header().Get(idempotency.HeaderIdempotentReplayed), rec.Body)
	}
	if calls.Load() != 1 {
		t.Errorf("handler calls: got %d, want 1", calls.Load())
	}
}

// TestPassThroughDoesNotAllocate: a request that is not guarded (method,
// no key, skipped) costs the guard no allocation.
func TestPassThroughDoesNotAllocate(t *testing.T) {
	g, err := idempotency.New(idempotency.Config{Skip: func(r *http.Request) bool { return r.Header.Get("X-Skip") != "" }})
	if err != nil {
		t.Fatal(err)
	}
	call := &testCall{route: "/x", next: func(http.ResponseWriter, *http.Request) error { return nil },
		render: func(http.ResponseWriter, *http.Request, error) {}}
	w := httptest.NewRecorder()
	get := httptest.NewRequest(http.MethodGet, "/x", nil)
	get.Header.Set(idempotency.HeaderIdempotencyKey, "k")
	noKey := httptest.NewRequest(http.MethodPost, "/x", nil)
	skipped := httptest.NewRequest(http.MethodPost, "/x", nil)
	skipped.Header.Set(idempotency.HeaderIdempotencyKey, "k")
	skipped.Header.Set("X-Skip", "1")
	for name, r := range map[string]*http.Request{"GET": get, "no key": noKey, "skipped": skipped} {
		if n := alloctest.PerRun(100, func() {
			if err := g.Serve(w, r, call); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocations, want 0", name, n)
		}
	}
}

// TestNoFrameworkImports: the core imports no web framework.
func TestNoFrameworkImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/clipia/apiguard/idempotency").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v %s", err, out)
	}
	for dep := range strings.FieldsSeq(string(out)) {
		if strings.Contains(dep, "labstack") || dep == "github.com/clipia/apiguard/middleware" {
			t.Errorf("idempotency depends on %s", dep)
		}
	}
}

// TestRenderedErrorsAreMarked: an error the handler returns is rendered at
// once through render (so it is stored as the client saw it), and Serve
// returns it marked as rendered.
func TestRenderedErrorsAreMarked(t *testing.T) {
	g, err := idempotency.New(idempotency.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rd := errorsx.NewRenderer(errorsx.HandlerConfig{})
	var rendered int
	for i := range 2 {
		r := httptest.NewRequest(http.MethodPost, "/x", nil)
		r.Header.Set(idempotency.HeaderIdempotencyKey, "k")
		rec := httptest.NewRecorder()
		err := serve(g, rec, r, "/x", func(w http.ResponseWriter, r *http.Request) error {
			return errorsx.InsufficientCredits()
		}, func(w http.ResponseWriter, r *http.Request, err error) {
			rendered++
			rd.Write(w, r, "/x", err)
		})
		if i == 0 && (!errorsx.IsRendered(err) || rec.Code != 402) {
			t.Errorf("first: got %d, err %v; want 402 and a rendered error", rec.Code, err)
		}
		if i == 1 && (err != nil || rec.Code != 402 || rec.Header().Get(idempotency.HeaderIdempotentReplayed) != "true") {
			t.Errorf("replay: got %d, err %v; want the 402 replayed and nil", rec.Code, err)
		}
	}
	if rendered != 1 {
		t.Errorf("render calls: got %d, want 1", rendered)
	}
}
