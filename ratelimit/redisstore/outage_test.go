package redisstore_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/internal/redistest"
	"github.com/clipia/apiguard/middleware/nethttp"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/redisstore"
)

// lockedBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStoreOutageLoggedOnce kills Redis under the rate limit and the
// concurrency limit, in both modes: failing open every request passes,
// failing closed every one answers 503 with Retry-After; either way the
// outage is logged once when it begins and once when Redis answers again
// (with the number of requests it let through or refused), not once per
// request.
func TestStoreOutageLoggedOnce(t *testing.T) {
	type limit struct {
		name string
		what string // the store, as the log names it
		new  func(t *testing.T, srv *redistest.Server, closed bool, logger *slog.Logger) guard.Guard
	}
	guards := []limit{
		{"rate", "rate limit store", func(t *testing.T, srv *redistest.Server, closed bool, logger *slog.Logger) guard.Guard {
			g, err := ratelimit.New(ratelimit.Config{
				Policies:   []ratelimit.Policy{ratelimit.PerMinute("default", 1000, 1000)},
				Store:      newStore(t, patientClient(t, srv), redisstore.Config{}),
				FailClosed: closed, Logger: logger,
			})
			if err != nil {
				t.Fatal(err)
			}
			return g
		}},
		{"concurrency", "concurrency store", func(t *testing.T, srv *redistest.Server, closed bool, logger *slog.Logger) guard.Guard {
			g, err := ratelimit.NewConcurrency(ratelimit.ConcurrencyConfig{
				Limit: 10, Store: newConcStore(t, patientClient(t, srv), nil),
				FailClosed: closed, Logger: logger,
			})
			if err != nil {
				t.Fatal(err)
			}
			return g
		}},
	}
	const during = 20
	for _, g := range guards {
		for _, closed := range []bool{false, true} {
			mode, want, counted := "open", http.StatusOK, "requests_allowed="
			if closed {
				mode, want, counted = "closed", http.StatusServiceUnavailable, "requests_refused="
			}
			t.Run(g.name+"/"+mode, func(t *testing.T) {
				srv := redistest.Start(t)
				var logs lockedBuffer
				logger := slog.New(slog.NewTextHandler(&logs, nil))
				mux := http.NewServeMux()
				mux.Handle("GET /", nethttp.Use(g.new(t, srv, closed, logger))(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					w.WriteHeader(http.StatusOK)
				})))
				h := nethttp.Install(mux, nethttp.Config{})
				get := func() *httptest.ResponseRecorder {
					rec := httptest.NewRecorder()
					req := httptest.NewRequest(http.MethodGet, "/", nil)
					req.RemoteAddr = "192.0.2.1:999"
					h.ServeHTTP(rec, req)
					return rec
				}
				if rec := get(); rec.Code != http.StatusOK || rec.Header().Get("RateLimit") == "" {
					t.Fatalf("Redis up: got %d RateLimit %q, want 200 with RateLimit", rec.Code, rec.Header().Get("RateLimit"))
				}
				srv.Kill()
				for i := range during {
					rec := get()
					if rec.Code != want {
						t.Fatalf("request %d with Redis down: got %d %s, want %d", i, rec.Code, rec.Body, want)
					}
					if ra := rec.Header().Get("Retry-After"); closed && ra != "1" {
						t.Errorf("request %d: got Retry-After %q on the 503, want 1", i, ra)
					}
				}
				if got := strings.Count(logs.String(), g.what+" failed"); got != 1 {
					t.Errorf("got %d records of the failure for %d requests, want 1:\n%s", got, during, logs.String())
				}
				srv.Restart(t)
				deadline := time.Now().Add(30 * time.Second)
				for {
					rec := get()
					if rec.Code == http.StatusOK && rec.Header().Get("RateLimit") != "" {
						break // Redis decided again
					}
					if time.Now().After(deadline) {
						t.Fatalf("Redis restarted but the guard still fails: %d", rec.Code)
					}
				}
				get()
				log := logs.String()
				if got := strings.Count(log, g.what+" answers again"); got != 1 {
					t.Fatalf("got %d records of the recovery, want 1:\n%s", got, log)
				}
				n := -1
				if m := regexp.MustCompile(counted + `(\d+)`).FindStringSubmatch(log); m != nil {
					n, _ = strconv.Atoi(m[1])
				}
				if n < during {
					t.Errorf("the recovery record does not count the %d requests (%s):\n%s", during, counted, log)
				}
				if got := strings.Count(log, g.what+" failed"); got != 1 {
					t.Errorf("got %d records of the failure, want 1:\n%s", got, log)
				}
			})
		}
	}
}
