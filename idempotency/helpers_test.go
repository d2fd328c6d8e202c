package idempotency_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/redisstore"
	"github.com/clipia/apiguard/internal/idemtest"
	"github.com/clipia/apiguard/internal/redistest"
	"github.com/clipia/apiguard/principal"
)

// storeKinds are the stores every guard behaviour runs against.
var storeKinds = []struct {
	name string
	new  func(t *testing.T) idempotency.Store
}{
	{"memory", func(t *testing.T) idempotency.Store {
		return newMemoryStore(t, idempotency.MemoryConfig{})
	}},
	{"redis", func(t *testing.T) idempotency.Store {
		s, err := redisstore.New(redistest.Client(t), redisstore.Config{Prefix: redistest.Prefix(t)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
}

// logBuffer collects log records for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// handler is a route's handler in the core's tests.
type handler = idemtest.Handler

// testCall is the guard.Call of the core's tests, which run the guard
// without a front door: the route is given, Next and Render are
// functions.
type testCall struct {
	route  string
	next   func(http.ResponseWriter, *http.Request) error
	render func(http.ResponseWriter, *http.Request, error)
}

func (c *testCall) Route() string                                     { return c.route }
func (c *testCall) Param(string) string                               { return "" }
func (c *testCall) Next(w http.ResponseWriter, r *http.Request) error { return c.next(w, r) }
func (c *testCall) Render(w http.ResponseWriter, r *http.Request, err error) {
	c.render(w, r, err)
}

// serve runs g for one request on route, with next as the rest of the
// chain and render as the door's renderer.
func serve(g *idempotency.Guard, w http.ResponseWriter, r *http.Request, route string,
	next func(http.ResponseWriter, *http.Request) error, render func(http.ResponseWriter, *http.Request, error)) error {
	return g.Serve(w, r, &testCall{route: route, next: next, render: render})
}

// newApp is the guard on plain net/http without a front door, wired like
// the reference server (idemtest.NewApp is the same app on each door): the
// renderer, request id, recover, a test auth that takes the tenant from
// X-Test-Tenant, then the guard through Guard.Serve, and h on POST
// /v1/generations, POST /v1/other, GET and DELETE /v1/generations. The
// route given to Serve is the path.
func newApp(t *testing.T, cfg idempotency.Config, h handler) http.Handler {
	t.Helper()
	logs := &logBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = logs.logger()
	}
	g, err := idempotency.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return serveGuard(g, errorsx.NewRenderer(errorsx.HandlerConfig{Logger: logs.logger()}), h)
}

// serveGuard is the app of newApp around g.
func serveGuard(g *idempotency.Guard, rd *errorsx.Renderer, h handler) http.Handler {
	mux := http.NewServeMux()
	guarded := func(w http.ResponseWriter, r *http.Request) {
		if tenant := r.Header.Get("X-Test-Tenant"); tenant != "" {
			r = r.WithContext(principal.NewContext(r.Context(), &principal.Principal{KeyID: "key_" + tenant, Tenant: tenant}))
		}
		route := r.URL.Path
		render := func(w http.ResponseWriter, r *http.Request, err error) {
			rd.Write(w, r, route, err)
		}
		if err := serve(g, w, r, route, h, render); err != nil && !errorsx.IsRendered(err) {
			render(w, r, err)
		}
	}
	for _, p := range []string{"POST /v1/generations", "POST /v1/other", "GET /v1/generations", "DELETE /v1/generations"} {
		mux.HandleFunc(p, guarded)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		errorsx.RequestID(w.Header(), r) // a fresh id per request
		defer func() {
			if v := recover(); v != nil {
				rd.Write(w, r, r.URL.Path, errorsx.Internal())
			}
		}()
		mux.ServeHTTP(w, r)
	})
}

type req = idemtest.Req

func do(h http.Handler, r req) *httptest.ResponseRecorder { return idemtest.Do(h, r) }

// doCtx sends r with ctx as the request's context.
func doCtx(h http.Handler, ctx context.Context, r req) *httptest.ResponseRecorder {
	return idemtest.Do(http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		h.ServeHTTP(w, hr.WithContext(ctx))
	}), r)
}

func errorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	return idemtest.ErrorCode(t, rec)
}

// created is the usual answer of the tests' handlers.
func created(w http.ResponseWriter, body string) error { return idemtest.Created(w, body) }

// text writes a text/plain response.
func text(w http.ResponseWriter, status int, body string) error {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.WriteHeader(status)
	_, err := w.Write([]byte(body))
	return err
}
