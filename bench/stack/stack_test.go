package stack

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/echo5"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/middleware"
	"github.com/clipia/apiguard/nethttp"
	"github.com/clipia/apiguard/principal"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/go-playground/validator/v10"
	echo4 "github.com/labstack/echo/v4"
	echo4mw "github.com/labstack/echo/v4/middleware"
	echov5 "github.com/labstack/echo/v5"
	echo5mw "github.com/labstack/echo/v5/middleware"
	"golang.org/x/time/rate"
)

// genRequest is the body of POST /v1/generations, the same struct for every
// stack.
type genRequest struct {
	Model      string `json:"model" validate:"required"`
	Prompt     string `json:"prompt" validate:"required,min=1,max=4000"`
	Duration   *int   `json:"duration" validate:"omitempty,min=1"`
	Resolution string `json:"resolution" validate:"omitempty,oneof=480p 720p 1080p 4k"`
}

var (
	reqBody  = []byte(`{"model":"clipia-fast","prompt":"a cat riding a skateboard through a rainy neon city, cinematic, 35mm","duration":8,"resolution":"720p"}`)
	respBody = []byte(`{"id":"gen_1","object":"generation","model":"clipia-fast","status":"succeeded"}` + "\n")
)

const (
	apiKey = "sk_test_full"
	scope  = "generations:write"
	path   = "/v1/generations"
)

// created writes the handler's answer, the same on every stack.
func created(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(respBody)
}

// kind is one way of serving the route.
type kind int

const (
	// bare: the framework alone; the handler binds and validates
	// (encoding/json or c.Bind, then validator.Struct).
	bare kind = iota
	// echoMW: bare plus Echo's own RequestID, Recover, KeyAuth (a map,
	// the principal put in the context, a scope check) and RateLimiter
	// (its memory store keyed by the key): the same work as apiguard's
	// stack without idempotency.
	echoMW
	// guarded: apiguard's stack on the framework's front door.
	guarded
	// guardedIdem: guarded plus the idempotency guard.
	guardedIdem
)

func (k kind) String() string {
	return [...]string{"bare", "echo-mw", "apiguard", "apiguard+idem"}[k]
}

var quiet = slog.New(slog.DiscardHandler)

// guardConfigs are the core configurations of apiguard's stack, fresh
// memory stores each time.
type guardConfigs struct {
	auth  auth.Config
	limit ratelimit.Config
	idem  idempotency.Config
	bind  bind.Config
	errs  errorsx.HandlerConfig
}

func newGuardConfigs(tb testing.TB) guardConfigs {
	keys, err := auth.NewMemoryKeyStore([]auth.KeyConfig{
		{Key: apiKey, KeyID: "key_full", Tenant: "acme", Scopes: []string{"models:read", scope}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	rl := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{})
	tb.Cleanup(func() { rl.Close() })
	is := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
	tb.Cleanup(func() { is.Close() })
	return guardConfigs{
		auth: auth.Config{Store: keys},
		limit: ratelimit.Config{
			Policies: []ratelimit.Policy{{Name: "default", Rate: 1_000_000_000, Period: time.Second, Burst: 1_000_000_000}},
			Store:    rl,
			Logger:   quiet,
		},
		idem: idempotency.Config{Store: is, Logger: quiet},
		errs: errorsx.HandlerConfig{Logger: quiet},
	}
}

// principals are the keys of the Echo-middleware baselines.
var principals = map[string]*principal.Principal{
	apiKey: {KeyID: "key_full", Tenant: "acme", Scopes: []string{"models:read", scope}},
}

// newNetHTTP serves the route on http.ServeMux.
func newNetHTTP(tb testing.TB, k kind) http.Handler {
	mux := http.NewServeMux()
	if k == bare {
		v := validator.New()
		mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
			var req genRequest
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				http.Error(w, "bad json", http.StatusBadRequest)
				return
			}
			if err := v.Struct(&req); err != nil {
				http.Error(w, "invalid", http.StatusBadRequest)
				return
			}
			created(w)
		})
		return mux
	}
	g := newGuardConfigs(tb)
	must := func(mw func(http.Handler) http.Handler, err error) func(http.Handler) http.Handler {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return mw
	}
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if nethttp.Body[genRequest](r) == nil {
			panic("no body")
		}
		created(w)
	})
	h = must(nethttp.Bind[genRequest](g.bind))(h)
	if k == guardedIdem {
		h = must(nethttp.Idempotency(g.idem))(h)
	}
	h = must(nethttp.RequireScopes(scope))(h)
	h = must(nethttp.RateLimit(g.limit))(h)
	h = must(nethttp.Auth(g.auth))(h)
	mux.Handle("POST "+path, h)
	front, err := nethttp.Handler(mux, nethttp.Config{Errors: g.errs})
	if err != nil {
		tb.Fatal(err)
	}
	return front
}

// newEcho5 serves the route on Echo v5.
func newEcho5(tb testing.TB, k kind) http.Handler {
	e := echov5.New()
	if k == bare || k == echoMW {
		e.Validator = &echoValidator{v: validator.New()}
		handler := func(c *echov5.Context) error {
			var req genRequest
			if err := c.Bind(&req); err != nil {
				return err
			}
			if err := c.Validate(&req); err != nil {
				return echov5.NewHTTPError(http.StatusBadRequest, "invalid")
			}
			created(c.Response())
			return nil
		}
		if k == bare {
			e.POST(path, handler)
			return e
		}
		e.Use(echo5mw.RequestID(), echo5mw.Recover())
		keyAuth := echo5mw.KeyAuth(func(c *echov5.Context, key string, _ echo5mw.ExtractorSource) (bool, error) {
			p, ok := principals[key]
			if ok {
				c.Set("principal", p)
			}
			return ok, nil
		})
		limit := echo5mw.RateLimiterWithConfig(echo5mw.RateLimiterConfig{
			Store: echo5mw.NewRateLimiterMemoryStoreWithConfig(echo5mw.RateLimiterMemoryStoreConfig{
				Rate: 1_000_000_000, Burst: 1_000_000_000, ExpiresIn: 3 * time.Minute,
			}),
			IdentifierExtractor: func(c *echov5.Context) (string, error) {
				return c.Get("principal").(*principal.Principal).KeyID, nil
			},
		})
		scoped := func(next echov5.HandlerFunc) echov5.HandlerFunc {
			return func(c *echov5.Context) error {
				if p, _ := c.Get("principal").(*principal.Principal); !p.HasScope(scope) {
					return echov5.ErrForbidden
				}
				return next(c)
			}
		}
		e.POST(path, handler, keyAuth, limit, scoped)
		return e
	}
	g := newGuardConfigs(tb)
	must := func(mw echov5.MiddlewareFunc, err error) echov5.MiddlewareFunc {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return mw
	}
	e.HTTPErrorHandler = echo5.ErrorHandler(g.errs)
	e.Use(must(echo5.RequestID(echo5.RequestIDConfig{})), must(echo5.Recover(echo5.RecoverConfig{})))
	mws := []echov5.MiddlewareFunc{
		must(echo5.Auth(g.auth)), must(echo5.RateLimit(g.limit)), must(echo5.RequireScopes(scope)),
	}
	if k == guardedIdem {
		mws = append(mws, must(echo5.Idempotency(g.idem)))
	}
	mws = append(mws, must(echo5.Bind[genRequest](g.bind)))
	e.POST(path, func(c *echov5.Context) error {
		if echo5.Body[genRequest](c) == nil {
			panic("no body")
		}
		created(c.Response())
		return nil
	}, mws...)
	return e
}

// newEcho4 serves the route on Echo v4.
func newEcho4(tb testing.TB, k kind) http.Handler {
	e := echo4.New()
	if k == bare || k == echoMW {
		e.Validator = &echoValidator{v: validator.New()}
		handler := func(c echo4.Context) error {
			var req genRequest
			if err := c.Bind(&req); err != nil {
				return err
			}
			if err := c.Validate(&req); err != nil {
				return echo4.NewHTTPError(http.StatusBadRequest, "invalid")
			}
			created(c.Response())
			return nil
		}
		if k == bare {
			e.POST(path, handler)
			return e
		}
		e.Use(echo4mw.RequestID(), echo4mw.Recover())
		keyAuth := echo4mw.KeyAuth(func(key string, c echo4.Context) (bool, error) {
			p, ok := principals[key]
			if ok {
				c.Set("principal", p)
			}
			return ok, nil
		})
		limit := echo4mw.RateLimiterWithConfig(echo4mw.RateLimiterConfig{
			Store: echo4mw.NewRateLimiterMemoryStoreWithConfig(echo4mw.RateLimiterMemoryStoreConfig{
				Rate: rate.Limit(1_000_000_000), Burst: 1_000_000_000, ExpiresIn: 3 * time.Minute,
			}),
			IdentifierExtractor: func(c echo4.Context) (string, error) {
				return c.Get("principal").(*principal.Principal).KeyID, nil
			},
		})
		scoped := func(next echo4.HandlerFunc) echo4.HandlerFunc {
			return func(c echo4.Context) error {
				if p, _ := c.Get("principal").(*principal.Principal); !p.HasScope(scope) {
					return echo4.ErrForbidden
				}
				return next(c)
			}
		}
		e.POST(path, handler, keyAuth, limit, scoped)
		return e
	}
	g := newGuardConfigs(tb)
	must := func(mw echo4.MiddlewareFunc, err error) echo4.MiddlewareFunc {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return mw
	}
	e.HTTPErrorHandler = middleware.ErrorHandler(g.errs)
	e.Use(must(middleware.RequestID(middleware.RequestIDConfig{})), must(middleware.Recover(middleware.RecoverConfig{})))
	mws := []echo4.MiddlewareFunc{
		must(middleware.Auth(g.auth)), must(middleware.RateLimit(g.limit)), must(middleware.RequireScopes(scope)),
	}
	if k == guardedIdem {
		mws = append(mws, must(middleware.Idempotency(g.idem)))
	}
	mws = append(mws, must(middleware.Bind[genRequest](g.bind)))
	e.POST(path, func(c echo4.Context) error {
		if middleware.Body[genRequest](c) == nil {
			panic("no body")
		}
		created(c.Response())
		return nil
	}, mws...)
	return e
}

// echoValidator is the usual Echo setup: validator/v10 behind e.Validator
// (the same interface in Echo v4 and v5).
type echoValidator struct{ v *validator.Validate }

func (ev *echoValidator) Validate(i any) error { return ev.v.Struct(i) }

// framework is one front door with the stacks it is compared in.
type framework struct {
	name  string
	new   func(testing.TB, kind) http.Handler
	kinds []kind
}

var frameworks = []framework{
	{"nethttp", newNetHTTP, []kind{bare, guarded, guardedIdem}},
	{"echo5", newEcho5, []kind{bare, echoMW, guarded, guardedIdem}},
	{"echo4", newEcho4, []kind{bare, echoMW, guarded, guardedIdem}},
}

// idemSeq makes every Idempotency-Key of a run unique.
var idemSeq atomic.Int64

// client sends the same request through h again and again, reusing the
// request and the writer.
type client struct {
	h    http.Handler
	req  *http.Request
	rd   *bytes.Reader
	body io.ReadCloser
	w    *discardWriter
	idem bool
	buf  []byte
}

func newClient(h http.Handler, k kind) *client {
	rd := bytes.NewReader(reqBody)
	req, _ := http.NewRequest(http.MethodPost, path, nil)
	req.RemoteAddr = "192.0.2.1:1234"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+apiKey)
	return &client{h: h, req: req, rd: rd, body: io.NopCloser(rd), w: &discardWriter{h: http.Header{}}, idem: k == guardedIdem}
}

func (c *client) once() {
	c.rd.Reset(reqBody)
	c.req.Body, c.req.ContentLength = c.body, int64(len(reqBody))
	if c.idem {
		c.buf = strconv.AppendInt(append(c.buf[:0], "bench-"...), idemSeq.Add(1), 36)
		c.req.Header["Idempotency-Key"] = []string{string(c.buf)}
	}
	clear(c.w.h)
	c.w.status = 0
	c.h.ServeHTTP(c.w, c.req)
}

// discardWriter is a ResponseWriter that keeps only the status, so the
// benchmark measures the stack, not a recorder. Like net/http's own writer
// it takes a read deadline (and ignores it).
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}
func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *discardWriter) SetReadDeadline(time.Time) error { return nil }

// TestStacks checks that every stack of the benchmark answers its request
// 201 with the handler's body (so the benchmark measures the success path)
// and that the guarded ones really guard: no key is 401, an invalid body
// 400, a replayed Idempotency-Key the first answer.
func TestStacks(t *testing.T) {
	for _, fw := range frameworks {
		for _, k := range fw.kinds {
			t.Run(fw.name+"/"+k.String(), func(t *testing.T) {
				h := fw.new(t, k)
				send := func(key, idem string, body []byte) *httptest.ResponseRecorder {
					req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					if key != "" {
						req.Header.Set("Authorization", "Bearer "+key)
					}
					if idem != "" {
						req.Header.Set("Idempotency-Key", idem)
					}
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					return rec
				}
				idem := ""
				if k == guardedIdem {
					idem = "test-1"
				}
				rec := send(apiKey, idem, reqBody)
				if rec.Code != http.StatusCreated || !bytes.Equal(rec.Body.Bytes(), respBody) {
					t.Fatalf("got %d %q, want 201 %q", rec.Code, rec.Body, respBody)
				}
				// The reused client of the benchmark gets the same answer.
				c := newClient(h, k)
				for range 3 {
					c.once()
					if c.w.status != http.StatusCreated && c.w.status != 0 { // 0: no request on this goroutine
						t.Fatalf("benchmark client: got %d, want 201", c.w.status)
					}
				}
				if rec := send(apiKey, "", []byte(`{"model":"clipia-fast"}`)); rec.Code != http.StatusBadRequest {
					t.Errorf("missing prompt: got %d, want 400", rec.Code)
				}
				if k == bare {
					return
				}
				// Echo v4's KeyAuth answers a missing key 400.
				if rec := send("", "", reqBody); rec.Code != http.StatusUnauthorized && (k != echoMW || rec.Code != http.StatusBadRequest) {
					t.Errorf("no key: got %d, want 401", rec.Code)
				}
				if rec := send("sk_test_nope", "", reqBody); rec.Code != http.StatusUnauthorized {
					t.Errorf("unknown key: got %d, want 401", rec.Code)
				}
				if k == guardedIdem {
					rec := send(apiKey, idem, reqBody)
					if rec.Code != http.StatusCreated || rec.Header().Get("Idempotent-Replayed") != "true" {
						t.Errorf("replay: got %d %v, want 201 with Idempotent-Replayed: true", rec.Code, rec.Header())
					}
				}
			})
		}
	}
}

// bareNs holds, per framework, the ns/op and cpu-ns/op of its bare stack
// in this run, for the x-bare metrics of the others.
var bareNs = map[string][2]float64{}

// BenchmarkStack serves POST /v1/generations through each stack of each
// front door on all Ps (b.RunParallel), in one run. Besides ns/op, B/op and
// allocs/op, each reports cpu-ns/op (the process's CPU time per request, GC
// included: on a shared machine it stays meaningful when the wall clock
// does not) and x-bare and cpu-x-bare, its ns/op and cpu-ns/op over those
// of the bare stack of the same framework in this run. Run it with -cpu 1,2 to see one core as well.
func BenchmarkStack(b *testing.B) {
	for _, fw := range frameworks {
		for _, k := range fw.kinds {
			b.Run(fw.name+"/"+k.String(), func(b *testing.B) {
				h := fw.new(b, k)
				b.ReportAllocs()
				cpu0 := cpuTime()
				b.RunParallel(func(pb *testing.PB) {
					c := newClient(h, k)
					for pb.Next() {
						c.once()
					}
					if c.w.status != http.StatusCreated && c.w.status != 0 { // 0: no request on this goroutine
						b.Errorf("got status %d, want 201", c.w.status)
					}
				})
				b.StopTimer()
				ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				cpu := float64(cpuTime()-cpu0) / float64(b.N)
				b.ReportMetric(cpu, "cpu-ns/op")
				if k == bare {
					bareNs[fw.name] = [2]float64{ns, cpu}
				} else if base := bareNs[fw.name]; base[0] > 0 && base[1] > 0 {
					b.ReportMetric(ns/base[0], "x-bare")
					b.ReportMetric(cpu/base[1], "cpu-x-bare")
				}
			})
		}
	}
}

// cpuTime returns the CPU time (user + system) the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
