package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/middleware/chi5"
	"github.com/clipia/apiguard/middleware/echo4"
	"github.com/clipia/apiguard/middleware/echo5"
	"github.com/clipia/apiguard/middleware/gin1"
	"github.com/clipia/apiguard/middleware/nethttp"
	"github.com/clipia/apiguard/principal"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"
	"github.com/go-playground/validator/v10"
	"github.com/google/uuid"
	echov4 "github.com/labstack/echo/v4"
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
	// usersMW: bare plus the middlewares the framework's users would
	// pick for the same work as apiguard's stack without idempotency:
	// request id, recover, key auth (a map, the principal put in the
	// context), a rate limit keyed by the key and a scope check. On Echo,
	// Echo's own RequestID, Recover, KeyAuth and RateLimiter (its memory
	// store); on chi, chi's RequestID and Recoverer and go-chi/httprate;
	// on gin, gin's Recovery and hand-written equivalents of
	// gin-contrib's request id and limiter (x/time/rate per key).
	usersMW
	// guarded: apiguard's stack on the framework's front door.
	guarded
	// guardedIdem: guarded plus the idempotency guard, a fresh
	// Idempotency-Key per request.
	guardedIdem
	// guardedReplay: guardedIdem with the same Idempotency-Key again and
	// again (one per client goroutine): the first request runs, every
	// other one is a replay.
	guardedReplay
)

func (k kind) String() string {
	return [...]string{"bare", "users-mw", "apiguard", "apiguard+idem", "apiguard+replay"}[k]
}

var quiet = slog.New(slog.DiscardHandler)

// guards is apiguard's stack, built once per handler with fresh memory
// stores: the request-level guards every door runs before routing, and the
// route's guards. Every door mounts the same values.
type guards struct {
	errs    errorsx.HandlerConfig
	request []guard.Guard
	route   []guard.Guard
}

func newGuards(tb testing.TB, k kind) guards {
	tb.Helper()
	must := func(g guard.Guard, err error) guard.Guard {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return g
	}
	keys, err := auth.NewMemoryKeyStore([]auth.KeyConfig{
		{Key: apiKey, KeyID: "key_full", Tenant: "acme", Scopes: []string{"models:read", scope}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	rl := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{})
	tb.Cleanup(func() { rl.Close() })
	g := guards{
		errs: errorsx.HandlerConfig{Logger: quiet},
		request: []guard.Guard{
			guard.RequestID(guard.RequestIDConfig{}),
			must(guard.Recover(guard.RecoverConfig{})),
		},
		route: []guard.Guard{
			must(auth.New(auth.Config{Store: keys})),
			must(ratelimit.New(ratelimit.Config{
				Policies: []ratelimit.Policy{{Name: "default", Rate: 1_000_000_000, Period: time.Second, Burst: 1_000_000_000}},
				Store:    rl,
				Logger:   quiet,
			})),
			must(auth.RequireScopes(scope)),
		},
	}
	if k == guardedIdem || k == guardedReplay {
		is := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
		tb.Cleanup(func() { is.Close() })
		g.route = append(g.route, must(idempotency.New(idempotency.Config{Store: is, Logger: quiet})))
	}
	g.route = append(g.route, must(bind.New[genRequest](bind.Config{})))
	return g
}

// guardedHandler is the handler behind apiguard's stack on net/http and
// chi: the body is bound already.
var guardedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if bind.Body[genRequest](r) == nil {
		panic("no body")
	}
	created(w)
})

// bareHandler is the handler of the bare net/http and chi stacks: it
// decodes with encoding/json and validates with validator.
func bareHandler() http.HandlerFunc {
	v := validator.New()
	return func(w http.ResponseWriter, r *http.Request) {
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
		mux.Handle("POST "+path, bareHandler())
		return mux
	}
	g := newGuards(tb, k)
	mux.Handle("POST "+path, nethttp.Use(g.route...)(guardedHandler))
	return nethttp.Install(mux, nethttp.Config{Errors: g.errs, Use: g.request})
}

// newChi serves the route on chi: bare, with go-chi/httprate and the
// hand-written key auth and scope check a chi user would pick (chiMW), or
// with apiguard's stack through the net/http door and chi's routes.
func newChi(tb testing.TB, k kind) http.Handler {
	mux := chi.NewRouter()
	switch k {
	case bare:
		mux.Post(path, bareHandler())
		return mux
	case usersMW:
		// chi's RequestID and Recoverer, a key check, httprate keyed by
		// the key (its in-memory counter), the scope check.
		mux.Use(chimw.RequestID, chimw.Recoverer, keyAuthHTTP)
		mux.Use(httprate.LimitBy(1_000_000_000, time.Second, func(r *http.Request) (string, error) {
			return principalOf(r).KeyID, nil
		}))
		mux.Use(scopedHTTP)
		mux.Post(path, bareHandler())
		return mux
	}
	g := newGuards(tb, k)
	mux.NotFound(nethttp.NotFound)
	mux.MethodNotAllowed(nethttp.NotFound)
	mux.With(nethttp.Use(g.route...)).Post(path, guardedHandler)
	return nethttp.Install(mux, nethttp.Config{Errors: g.errs, Use: g.request, Routes: chi5.Routes(mux)})
}

// newGin serves the route on gin: bare (the handler decodes and
// validates), with gin's Recovery and hand-written request id, key auth,
// rate limit (x/time/rate per key, as gin-contrib-style limiters do) and
// scope middlewares (usersMW), or with apiguard's stack (middleware/gin1).
func newGin(tb testing.TB, k kind) http.Handler {
	e := gin.New()
	switch k {
	case bare, usersMW:
		v := validator.New()
		handler := func(c *gin.Context) {
			var req genRequest
			if err := json.NewDecoder(c.Request.Body).Decode(&req); err != nil {
				c.AbortWithStatus(http.StatusBadRequest)
				return
			}
			if err := v.Struct(&req); err != nil {
				c.AbortWithStatus(http.StatusBadRequest)
				return
			}
			created(c.Writer)
		}
		if k == bare {
			e.POST(path, handler)
			return e
		}
		var limiters sync.Map // key id → *rate.Limiter
		e.Use(gin.Recovery(), ginRequestID)
		e.POST(path, ginKeyAuth, func(c *gin.Context) {
			id := c.MustGet("principal").(*principal.Principal).KeyID
			l, ok := limiters.Load(id)
			if !ok {
				l, _ = limiters.LoadOrStore(id, rate.NewLimiter(rate.Limit(1_000_000_000), 1_000_000_000))
			}
			if !l.(*rate.Limiter).Allow() {
				c.AbortWithStatus(http.StatusTooManyRequests)
				return
			}
			c.Next()
		}, func(c *gin.Context) {
			if !c.MustGet("principal").(*principal.Principal).HasScope(scope) {
				c.AbortWithStatus(http.StatusForbidden)
				return
			}
			c.Next()
		}, handler)
		return e
	}
	g := newGuards(tb, k)
	h := gin1.Install(e, gin1.Config{Errors: g.errs, Use: g.request})
	e.POST(path, gin1.Use(g.route...), func(c *gin.Context) {
		if bind.Body[genRequest](c.Request) == nil {
			panic("no body")
		}
		created(c.Writer)
	})
	return h
}

// ginRequestID gives the request an id, as gin-contrib/requestid does.
func ginRequestID(c *gin.Context) {
	id := c.GetHeader("X-Request-Id")
	if id == "" {
		id = uuid.NewString()
	}
	c.Header("X-Request-Id", id)
	c.Next()
}

// ginKeyAuth looks the bearer key up in principals.
func ginKeyAuth(c *gin.Context) {
	key, ok := bearerKey(c.Request)
	p := principals[key]
	if !ok || p == nil {
		c.AbortWithStatus(http.StatusUnauthorized)
		return
	}
	c.Set("principal", p)
	c.Next()
}

// bearerKey reads "Authorization: Bearer <key>".
func bearerKey(r *http.Request) (string, bool) {
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) <= len(prefix) || h[:len(prefix)] != prefix {
		return "", false
	}
	return h[len(prefix):], true
}

type principalKey struct{}

func principalOf(r *http.Request) *principal.Principal {
	p, _ := r.Context().Value(principalKey{}).(*principal.Principal)
	return p
}

// keyAuthHTTP is a hand-written key check for chi: the key's principal
// goes into the request's context.
func keyAuthHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := bearerKey(r)
		p := principals[key]
		if !ok || p == nil {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// scopedHTTP is a hand-written scope check for chi.
func scopedHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !principalOf(r).HasScope(scope) {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// newEcho5 serves the route on Echo v5.
func newEcho5(tb testing.TB, k kind) http.Handler {
	e := echov5.New()
	if k == bare || k == usersMW {
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
	g := newGuards(tb, k)
	echo5.Install(e, echo5.Config{Errors: g.errs, Use: g.request})
	e.POST(path, func(c *echov5.Context) error {
		if bind.Body[genRequest](c.Request()) == nil {
			panic("no body")
		}
		created(c.Response())
		return nil
	}, echo5.Use(g.route...))
	return e
}

// newEcho4 serves the route on Echo v4.
func newEcho4(tb testing.TB, k kind) http.Handler {
	e := echov4.New()
	if k == bare || k == usersMW {
		e.Validator = &echoValidator{v: validator.New()}
		handler := func(c echov4.Context) error {
			var req genRequest
			if err := c.Bind(&req); err != nil {
				return err
			}
			if err := c.Validate(&req); err != nil {
				return echov4.NewHTTPError(http.StatusBadRequest, "invalid")
			}
			created(c.Response())
			return nil
		}
		if k == bare {
			e.POST(path, handler)
			return e
		}
		e.Use(echo4mw.RequestID(), echo4mw.Recover())
		keyAuth := echo4mw.KeyAuth(func(key string, c echov4.Context) (bool, error) {
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
			IdentifierExtractor: func(c echov4.Context) (string, error) {
				return c.Get("principal").(*principal.Principal).KeyID, nil
			},
		})
		scoped := func(next echov4.HandlerFunc) echov4.HandlerFunc {
			return func(c echov4.Context) error {
				if p, _ := c.Get("principal").(*principal.Principal); !p.HasScope(scope) {
					return echov4.ErrForbidden
				}
				return next(c)
			}
		}
		e.POST(path, handler, keyAuth, limit, scoped)
		return e
	}
	g := newGuards(tb, k)
	echo4.Install(e, echo4.Config{Errors: g.errs, Use: g.request})
	e.POST(path, func(c echov4.Context) error {
		if bind.Body[genRequest](c.Request()) == nil {
			panic("no body")
		}
		created(c.Response())
		return nil
	}, echo4.Use(g.route...))
	return e
}

// echoValidator is the usual Echo setup: validator/v10 behind e.Validator
// (the same interface in Echo v4 and v5).
type echoValidator struct{ v *validator.Validate }

func (ev *echoValidator) Validate(i any) error { return ev.v.Struct(i) }

// framework is one front door with the stacks it is compared in; mw names
// its usersMW stack.
type framework struct {
	name  string
	new   func(testing.TB, kind) http.Handler
	kinds []kind
	mw    string
}

// label names stack k of fw in the benchmark's and the test's names.
func (fw framework) label(k kind) string {
	if k == usersMW {
		return fw.mw
	}
	return k.String()
}

var frameworks = []framework{
	{"nethttp", newNetHTTP, []kind{bare, guarded, guardedIdem, guardedReplay}, ""},
	{"chi", newChi, []kind{bare, usersMW, guarded, guardedIdem, guardedReplay}, "chi-httprate"},
	{"gin", newGin, []kind{bare, usersMW, guarded, guardedIdem, guardedReplay}, "gin-mw"},
	{"echo5", newEcho5, []kind{bare, usersMW, guarded, guardedIdem, guardedReplay}, "echo-mw"},
	{"echo4", newEcho4, []kind{bare, usersMW, guarded, guardedIdem, guardedReplay}, "echo-mw"},
}

// gin lists routes on stdout in its default debug mode.
func init() { gin.SetMode(gin.ReleaseMode) }

// idemSeq makes every Idempotency-Key of a run unique.
var idemSeq atomic.Int64

// client sends the same request through h again and again, reusing the
// request and the writer.
type client struct {
	h      http.Handler
	req    *http.Request
	rd     *bytes.Reader
	body   io.ReadCloser
	w      *discardWriter
	replay bool
	buf    []byte
}

func newClient(h http.Handler, k kind) *client {
	rd := bytes.NewReader(reqBody)
	req, _ := http.NewRequest(http.MethodPost, path, nil)
	req.RemoteAddr = "192.0.2.1:1234"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+apiKey)
	return &client{h: h, req: req, rd: rd, body: io.NopCloser(rd), w: &discardWriter{h: http.Header{}},
		replay: k == guardedReplay}
}

func (c *client) once() {
	c.rd.Reset(reqBody)
	c.req.Body, c.req.ContentLength = c.body, int64(len(reqBody))
	switch {
	case c.replay:
		if c.req.Header["Idempotency-Key"] == nil {
			c.req.Header["Idempotency-Key"] = []string{"replay-" + strconv.FormatInt(idemSeq.Add(1), 36)}
		}
	default:
		// Every other stack gets a fresh key too, read or not, so that the
		// client's own work (a key string and its header slice) is the same
		// in every row and "apiguard+idem" minus "apiguard" is the guard's.
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
			t.Run(fw.name+"/"+fw.label(k), func(t *testing.T) {
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
				if k == guardedIdem || k == guardedReplay {
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
				if rec := send("", "", reqBody); rec.Code != http.StatusUnauthorized && (k != usersMW || rec.Code != http.StatusBadRequest) {
					t.Errorf("no key: got %d, want 401", rec.Code)
				}
				if rec := send("sk_test_nope", "", reqBody); rec.Code != http.StatusUnauthorized {
					t.Errorf("unknown key: got %d, want 401", rec.Code)
				}
				if k == guardedIdem || k == guardedReplay {
					rec := send(apiKey, idem, reqBody)
					if rec.Code != http.StatusCreated || rec.Header().Get("Idempotent-Replayed") != "true" {
						t.Errorf("replay: got %d %v, want 201 with Idempotent-Replayed: true", rec.Code, rec.Header())
					}
				}
			})
		}
	}
}

// bareNs holds, per framework and GOMAXPROCS, the ns/op and cpu-ns/op of
// its bare stack in this run, for the x-bare metrics of the others. (With
// -cpu 1,2 every stack runs at each setting before the next stack starts:
// keyed by name alone, a -cpu 1 row would be compared with the bare -cpu 2.)
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
			b.Run(fw.name+"/"+fw.label(k), func(b *testing.B) {
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
					bareNs[bareKey(fw.name)] = [2]float64{ns, cpu}
				} else if base := bareNs[bareKey(fw.name)]; base[0] > 0 && base[1] > 0 {
					b.ReportMetric(ns/base[0], "x-bare")
					b.ReportMetric(cpu/base[1], "cpu-x-bare")
				}
			})
		}
	}
}

// bareKey is the key in bareNs of framework name at the current GOMAXPROCS.
func bareKey(name string) string { return name + "-" + strconv.Itoa(runtime.GOMAXPROCS(0)) }

// cpuTime returns the CPU time (user + system) the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
