package guard_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/internal/alloctest"
	"github.com/clipia/apiguard/internal/logtest"
	"github.com/google/uuid"
)

// fakeCall is a door's Call for the chain tables: a fixed route and
// parameters, and a next that records "handler" and returns err.
type fakeCall struct {
	route    string
	params   map[string]string
	log      *[]string
	err      error
	handler  func(w http.ResponseWriter, r *http.Request) error // replaces the recording next when set
	rendered []error
}

func (c *fakeCall) Route() string            { return c.route }
func (c *fakeCall) Param(name string) string { return c.params[name] }
func (c *fakeCall) Next(w http.ResponseWriter, r *http.Request) error {
	if c.handler != nil {
		return c.handler(w, r)
	}
	if c.log != nil {
		*c.log = append(*c.log, "handler")
	}
	return c.err
}
func (c *fakeCall) Render(w http.ResponseWriter, r *http.Request, err error) {
	c.rendered = append(c.rendered, err)
}

// recording returns a guard acting on a route that logs name and runs the
// rest.
func recording(name string, log *[]string) guard.Guard {
	return guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
		*log = append(*log, name)
		return c.Next(w, r)
	})
}

// denying returns a guard acting on a route that logs name and answers err.
func denying(name string, log *[]string, err error) guard.Guard {
	return guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
		*log = append(*log, name)
		return err
	})
}

// requestLevel returns this package's three request-level guards, each
// logging its name when it runs (through its Skip, which it asks once per
// request).
func requestLevel(log *[]string) (requestID, recoverer, headerLimit guard.Guard) {
	mark := func(name string) func(*http.Request) bool {
		return func(*http.Request) bool { *log = append(*log, name); return false }
	}
	requestID = guard.RequestID(guard.RequestIDConfig{Skip: mark("requestid")})
	recoverer = guard.Must(guard.Recover(guard.RecoverConfig{Skip: mark("recover")}))
	headerLimit = guard.Must(guard.HeaderLimit(guard.HeaderLimitConfig{Skip: mark("headerlimit")}))
	return
}

// TestChain: guards run in order; an unmatched request is answered 404
// before the first guard that acts on a route, while the request-level
// guards before it run; nil guards are skipped; nested chains are one
// flat chain.
func TestChain(t *testing.T) {
	errDenied := errorsx.InsufficientScope()
	errHandler := errors.New("handler failed")
	for _, tc := range []struct {
		name    string
		chain   func(log *[]string) guard.Guard
		route   string
		handler error // what the door's next returns
		want    []string
		err     error
	}{
		{name: "matched: every guard in order, then the handler",
			chain: func(l *[]string) guard.Guard {
				id, rec, hl := requestLevel(l)
				return guard.Chain(id, rec, hl, recording("a", l), recording("b", l))
			},
			route: "/v1/models", want: []string{"requestid", "recover", "headerlimit", "a", "b", "handler"}},
		{name: "unmatched: a guard on a route answers 404 first",
			chain: func(l *[]string) guard.Guard { return guard.Chain(recording("a", l), recording("b", l)) },
			want:  nil, err: guard.ErrNotFound},
		{name: "unmatched: the request-level guards run, then 404",
			chain: func(l *[]string) guard.Guard {
				id, rec, hl := requestLevel(l)
				return guard.Chain(id, rec, hl, recording("a", l))
			},
			want: []string{"requestid", "recover", "headerlimit"}, err: guard.ErrNotFound},
		{name: "unmatched: a request-level guard behind a guard on a route does not run",
			chain: func(l *[]string) guard.Guard {
				id, _, _ := requestLevel(l)
				return guard.Chain(recording("a", l), id)
			},
			want: nil, err: guard.ErrNotFound},
		{name: "unmatched, request-level guards only: the door's next decides",
			chain: func(l *[]string) guard.Guard {
				id, rec, _ := requestLevel(l)
				return guard.Chain(id, rec)
			},
			want: []string{"requestid", "recover", "handler"}},
		{name: "one guard on a route, matched",
			chain: func(l *[]string) guard.Guard { return guard.Chain(recording("a", l)) },
			route: "/x", want: []string{"a", "handler"}},
		{name: "one guard on a route, unmatched",
			chain: func(l *[]string) guard.Guard { return guard.Chain(recording("a", l)) },
			want:  nil, err: guard.ErrNotFound},
		{name: "one request-level guard, unmatched",
			chain: func(l *[]string) guard.Guard { id, _, _ := requestLevel(l); return guard.Chain(id) },
			want:  []string{"requestid", "handler"}},
		{name: "empty chain: the door's next",
			chain: func(l *[]string) guard.Guard { return guard.Chain() },
			route: "/x", want: []string{"handler"}},
		{name: "empty chain, unmatched: the door's next",
			chain: func(l *[]string) guard.Guard { return guard.Chain() },
			want:  []string{"handler"}},
		{name: "nil guards skipped",
			chain: func(l *[]string) guard.Guard {
				return guard.Chain(nil, recording("a", l), nil, recording("b", l), nil)
			},
			route: "/x", want: []string{"a", "b", "handler"}},
		{name: "only nil guards",
			chain: func(l *[]string) guard.Guard { return guard.Chain(nil, nil) },
			route: "/x", want: []string{"handler"}},
		{name: "nil guards skipped, unmatched",
			chain: func(l *[]string) guard.Guard {
				id, _, _ := requestLevel(l)
				return guard.Chain(nil, id, nil, recording("a", l))
			},
			want: []string{"requestid"}, err: guard.ErrNotFound},
		{name: "nested chains run as one, in order",
			chain: func(l *[]string) guard.Guard {
				return guard.Chain(guard.Chain(recording("a", l), recording("b", l)), recording("c", l),
					guard.Chain(guard.Chain(recording("d", l)), guard.Chain()))
			},
			route: "/x", want: []string{"a", "b", "c", "d", "handler"}},
		{name: "a nested chain's request-level guards stay request-level",
			chain: func(l *[]string) guard.Guard {
				id, rec, _ := requestLevel(l)
				return guard.Chain(guard.Chain(id, guard.Chain(rec)), recording("a", l))
			},
			want: []string{"requestid", "recover"}, err: guard.ErrNotFound},
		{name: "a nested chain of one request-level guard, unmatched",
			chain: func(l *[]string) guard.Guard {
				id, _, _ := requestLevel(l)
				return guard.Chain(guard.Chain(id))
			},
			want: []string{"requestid", "handler"}},
		{name: "a guard's error stops the chain",
			chain: func(l *[]string) guard.Guard {
				return guard.Chain(recording("a", l), denying("deny", l, errDenied), recording("b", l))
			},
			route: "/x", want: []string{"a", "deny"}, err: errDenied},
		{name: "a nested chain's error stops the outer chain",
			chain: func(l *[]string) guard.Guard {
				return guard.Chain(guard.Chain(denying("deny", l, errDenied)), recording("b", l))
			},
			route: "/x", want: []string{"deny"}, err: errDenied},
		{name: "the handler's error comes back through every guard",
			chain: func(l *[]string) guard.Guard {
				id, _, _ := requestLevel(l)
				return guard.Chain(id, recording("a", l))
			},
			route: "/x", handler: errHandler, want: []string{"requestid", "a", "handler"}, err: errHandler},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			g := tc.chain(&log)
			c := &fakeCall{route: tc.route, log: &log, err: tc.handler}
			err := g.Serve(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil), c)
			if !slices.Equal(log, tc.want) {
				t.Errorf("ran %q, want %q", log, tc.want)
			}
			if err != tc.err {
				t.Errorf("got error %v, want %v", err, tc.err)
			}
			// The chain is reusable: a second request runs the same way.
			log = nil
			err = g.Serve(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil), c)
			if !slices.Equal(log, tc.want) || err != tc.err {
				t.Errorf("second request: ran %q (%v), want %q (%v)", log, err, tc.want, tc.err)
			}
		})
	}
	if got := guard.ErrNotFound; got.Status() != http.StatusNotFound || got.Code() != errorsx.CodeNotFound {
		t.Errorf("ErrNotFound is %d %s, want the 404 not_found row", got.Status(), got.Code())
	}
}

type ctxKey struct{}

// wrapped is a writer a guard puts in front of the door's.
type wrapped struct{ http.ResponseWriter }

// TestChainCall: a guard sees the door's route, parameters and renderer
// through the chain, and what a guard passes to Next (another writer,
// another request) is what the next guard and the handler get.
func TestChainCall(t *testing.T) {
	var seen []string
	outer := guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
		return c.Next(&wrapped{w}, r.WithContext(context.WithValue(r.Context(), ctxKey{}, "outer")))
	})
	inner := guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
		_, isWrapped := w.(*wrapped)
		seen = append(seen, fmt.Sprintf("route=%s id=%s wrapped=%v ctx=%v", c.Route(), c.Param("id"), isWrapped, r.Context().Value(ctxKey{})))
		c.Render(w, r, errorsx.RateLimitExceeded())
		return c.Next(w, r)
	})
	c := &fakeCall{route: "/v1/generations/{id}", params: map[string]string{"id": "gen_1"}}
	c.handler = func(w http.ResponseWriter, r *http.Request) error {
		_, isWrapped := w.(*wrapped)
		seen = append(seen, fmt.Sprintf("handler wrapped=%v ctx=%v", isWrapped, r.Context().Value(ctxKey{})))
		return nil
	}
	g := guard.Chain(recording("first", new([]string)), outer, inner)
	if err := g.Serve(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/generations/gen_1", nil), c); err != nil {
		t.Fatal(err)
	}
	want := []string{"route=/v1/generations/{id} id=gen_1 wrapped=true ctx=outer", "handler wrapped=true ctx=outer"}
	if !slices.Equal(seen, want) {
		t.Errorf("got %q, want %q", seen, want)
	}
	if len(c.rendered) != 1 || !errors.Is(c.rendered[0], errorsx.RateLimitExceeded()) {
		t.Errorf("the door rendered %v, want the guard's 429", c.rendered)
	}
}

// TestChainConcurrent: the chain's pooled per-request state is never
// shared: concurrent requests each see their own door's route.
func TestChainConcurrent(t *testing.T) {
	check := guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
		if want := r.Header.Get("X-Route"); c.Route() != want {
			return fmt.Errorf("saw route %q, want %q", c.Route(), want)
		}
		return c.Next(w, r)
	})
	g := guard.Chain(check, check, guard.Chain(check, check))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() {
			route := "/v1/r" + strconv.Itoa(i)
			r := httptest.NewRequest(http.MethodGet, route, nil)
			r.Header.Set("X-Route", route)
			for range 50 {
				if err := g.Serve(httptest.NewRecorder(), r, &fakeCall{route: route}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestChainAllocs: the chain adds no allocation per request, matched or
// not, whatever its length.
func TestChainAllocs(t *testing.T) {
	pass := guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error { return c.Next(w, r) })
	hl := guard.Must(guard.HeaderLimit(guard.HeaderLimitConfig{}))
	w, r := httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil)
	for _, tc := range []struct {
		name  string
		g     guard.Guard
		route string
	}{
		{"empty", guard.Chain(), "/x"},
		{"one guard", guard.Chain(pass), "/x"},
		{"one guard, unmatched", guard.Chain(pass), ""},
		{"three guards", guard.Chain(hl, pass, pass), "/x"},
		{"three guards, unmatched", guard.Chain(hl, pass, pass), ""},
		{"nested", guard.Chain(guard.Chain(hl, pass), guard.Chain(pass, pass)), "/x"},
	} {
		c := &fakeCall{route: tc.route}
		if n := alloctest.PerRun(100, func() { _ = tc.g.Serve(w, r, c) }); n != 0 {
			t.Errorf("%s: %v allocations per request, want 0", tc.name, n)
		}
	}
}

func TestFunc(t *testing.T) {
	called := false
	g := guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
		called = true
		return errorsx.NotFound()
	})
	if err := g.Serve(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil), &fakeCall{}); !called || !errors.Is(err, errorsx.NotFound()) {
		t.Errorf("called %v, error %v; want the function called and its error", called, err)
	}
}

func TestMust(t *testing.T) {
	if got := guard.Must(42, nil); got != 42 {
		t.Errorf("Must(42, nil) = %d", got)
	}
	errBad := errors.New("bad config")
	defer func() {
		if v := recover(); v != errBad {
			t.Errorf("Must(_, err) panicked with %v, want err", v)
		}
	}()
	guard.Must(0, errBad)
	t.Error("Must(_, err) did not panic")
}

// door is the smallest front door, for the request-level guards' tests
// over real HTTP: routes are ServeMux patterns whose handlers return
// errors; the guards run for every request, matched or not, with the
// route of the pattern the request matches; an unmatched request that
// passes them is answered 404; errors are rendered by one renderer.
type door struct {
	mux    *http.ServeMux
	g      guard.Guard
	render *errorsx.Renderer
}

func newDoor(cfg errorsx.HandlerConfig, gs ...guard.Guard) *door {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &door{mux: http.NewServeMux(), g: guard.Chain(gs...), render: errorsx.NewRenderer(cfg)}
}

// errSlot carries a route handler's error back to the door's Next.
type errSlot struct{ err error }

type slotKey struct{}

func (d *door) handle(pattern string, h func(w http.ResponseWriter, r *http.Request) error) {
	d.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		r.Context().Value(slotKey{}).(*errSlot).err = h(w, r)
	})
}

func (d *door) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, pattern := d.mux.Handler(r)
	c := &doorCall{d: d, route: guard.Template(pattern)}
	if err := d.g.Serve(w, r, c); err != nil && !errorsx.IsRendered(err) {
		d.render.Write(w, r, c.route, err)
	}
}

type doorCall struct {
	d     *door
	route string
}

func (c *doorCall) Route() string       { return c.route }
func (c *doorCall) Param(string) string { return "" } // no guard here reads one
func (c *doorCall) Next(w http.ResponseWriter, r *http.Request) error {
	if c.route == "" {
		return guard.ErrNotFound
	}
	s := &errSlot{}
	c.d.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), slotKey{}, s)))
	return s.err
}
func (c *doorCall) Render(w http.ResponseWriter, r *http.Request, err error) {
	c.d.render.Write(w, r, c.route, err)
}

// requestIDDoor has RequestID and two routes that echo the id the handler
// saw in a response header.
func requestIDDoor(cfg guard.RequestIDConfig) *door {
	d := newDoor(errorsx.HandlerConfig{}, guard.RequestID(cfg))
	seen := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Id", errorsx.RequestID(w.Header(), r))
	}
	d.handle("GET /ok", func(w http.ResponseWriter, r *http.Request) error {
		seen(w, r)
		_, err := w.Write([]byte("ok"))
		return err
	})
	d.handle("GET /fail", func(w http.ResponseWriter, r *http.Request) error {
		seen(w, r)
		return errorsx.NotFound()
	})
	return d
}

func TestRequestID(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		incoming []string // X-Request-Id values sent; nil sends none
		wantKept string   // "" means a new UUID
	}{
		{name: "success, none sent", path: "/ok"},
		{name: "success, sane id kept", path: "/ok", incoming: []string{"req_abc-123"}, wantKept: "req_abc-123"},
		{name: "error, sane id kept", path: "/fail", incoming: []string{"req_abc-123"}, wantKept: "req_abc-123"},
		{name: "unknown route, sane id kept", path: "/nope", incoming: []string{"trace:1/2+3=4@5.6"}, wantKept: "trace:1/2+3=4@5.6"},
		{name: "unknown route, none sent", path: "/nope"},
		{name: "uuid kept", path: "/ok", incoming: []string{"7d444840-9dc0-11d1-b245-5ffdce74fad2"}, wantKept: "7d444840-9dc0-11d1-b245-5ffdce74fad2"},
		{name: "longest kept", path: "/ok", incoming: []string{strings.Repeat("k", errorsx.MaxRequestIDLen)}, wantKept: strings.Repeat("k", errorsx.MaxRequestIDLen)},
		{name: "too long replaced", path: "/ok", incoming: []string{strings.Repeat("k", errorsx.MaxRequestIDLen+1)}},
		{name: "empty replaced", path: "/ok", incoming: []string{""}},
		{name: "space replaced", path: "/fail", incoming: []string{"req 1"}},
		{name: "control character replaced", path: "/ok", incoming: []string{"req\x001"}},
		{name: "header injection replaced", path: "/ok", incoming: []string{"a\r\nSet-Cookie: x=1"}},
		{name: "html replaced", path: "/fail", incoming: []string{"<script>"}},
		{name: "non-ASCII replaced", path: "/ok", incoming: []string{"зап-1"}},
		{name: "first of several values used", path: "/ok", incoming: []string{"first", "second"}, wantKept: "first"},
	}
	for _, stripe := range []bool{false, true} {
		d := requestIDDoor(guard.RequestIDConfig{SendRequestID: stripe})
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/SendRequestID=%v", tc.name, stripe), func(t *testing.T) {
				req := httptest.NewRequest(http.MethodGet, tc.path, nil)
				if tc.incoming != nil {
					req.Header[errorsx.HeaderRequestID] = tc.incoming
				}
				rec := httptest.NewRecorder()
				d.ServeHTTP(rec, req)

				ids := rec.Header().Values(errorsx.HeaderRequestID)
				if len(ids) != 1 {
					t.Fatalf("got X-Request-Id %q, want exactly one", ids)
				}
				id := ids[0]
				if tc.wantKept != "" {
					if id != tc.wantKept {
						t.Errorf("got X-Request-Id %q, want %q", id, tc.wantKept)
					}
				} else if u, err := uuid.Parse(id); err != nil || u.Version() != 4 || u.String() != id {
					t.Errorf("got X-Request-Id %q, want a new lower-case UUIDv4", id)
				}
				if seen := rec.Header().Get("X-Seen-Id"); tc.path != "/nope" && seen != id {
					t.Errorf("handler saw id %q, response carries %q", seen, id)
				}
				want := []string(nil)
				if stripe {
					want = []string{id}
				}
				if got := rec.Header().Values(errorsx.HeaderRequestIDStripe); !slices.Equal(got, want) {
					t.Errorf("got Request-Id %q, want %q", got, want)
				}
			})
		}
	}
}

// Requests without an id all get different ones, also concurrently.
func TestRequestIDUnique(t *testing.T) {
	d := requestIDDoor(guard.RequestIDConfig{})
	const n = 200
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ok", nil))
			ids <- rec.Header().Get(errorsx.HeaderRequestID)
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("id %q given twice", id)
		}
		seen[id] = true
	}
	if len(seen) != n {
		t.Fatalf("got %d distinct ids, want %d", len(seen), n)
	}
}

// The guard fixes the id before the handler runs: whatever the handler
// later does to the request header, the id stays.
func TestRequestIDFixedBeforeHandler(t *testing.T) {
	d := newDoor(errorsx.HandlerConfig{}, guard.RequestID(guard.RequestIDConfig{}))
	d.handle("GET /", func(w http.ResponseWriter, r *http.Request) error {
		r.Header.Set(errorsx.HeaderRequestID, "changed-later")
		return errorsx.Internal()
	})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set(errorsx.HeaderRequestID, "original")
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, req)
	if got := rec.Header().Get(errorsx.HeaderRequestID); got != "original" {
		t.Errorf("got %q, want %q", got, "original")
	}
}

// A skipped request gets no id from the guard; the renderer still gives
// an error response one.
func TestRequestIDSkip(t *testing.T) {
	d := newDoor(errorsx.HandlerConfig{}, guard.RequestID(guard.RequestIDConfig{
		SendRequestID: true,
		Skip:          func(r *http.Request) bool { return r.URL.Path != "/kept" },
	}))
	for _, path := range []string{"/skipped", "/kept"} {
		d.handle("GET "+path, func(w http.ResponseWriter, r *http.Request) error {
			_, err := w.Write([]byte("ok"))
			return err
		})
	}
	d.handle("GET /fail", func(http.ResponseWriter, *http.Request) error { return errorsx.NotFound() })
	for _, tc := range []struct {
		path string
		want bool // an id on the response
	}{{"/skipped", false}, {"/kept", true}, {"/fail", true}} {
		rec := httptest.NewRecorder()
		d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		id, stripe := rec.Header().Get(errorsx.HeaderRequestID), rec.Header().Get(errorsx.HeaderRequestIDStripe)
		if (id != "") != tc.want {
			t.Errorf("%s: got X-Request-Id %q, want one: %v", tc.path, id, tc.want)
		}
		if tc.path == "/kept" && stripe != id {
			t.Errorf("%s: got Request-Id %q, want %q", tc.path, stripe, id)
		}
	}
}

const panicSecret = "SELECT * FROM users at /srv/app/db.go:17 via 10.0.0.7:5432"

// TestRecover: a panic anywhere behind Recover is the fixed 500 for the
// client and one Error record (value and stack) for the log, whatever the
// panic value.
func TestRecover(t *testing.T) {
	internal, _ := errorsx.Lookup(errorsx.CodeInternal)
	for _, tc := range []struct {
		name      string
		panicWith func() any
		wantValue string // in the logged error
	}{
		{"string", func() any { return panicSecret }, panicSecret},
		{"error", func() any { return errors.New(panicSecret) }, panicSecret},
		{"catalogue error stays a 500", func() any { return errorsx.NotFound() }, "not_found"},
		{"struct", func() any { return struct{ Addr string }{"10.0.0.7:5432"} }, "10.0.0.7:5432"},
		{"runtime error", func() any {
			var s []string
			return s[len(panicSecret)] // index out of range
		}, "index out of range"},
		{"nil", func() any { return nil }, "nil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &logtest.Buffer{}
			d := newDoor(errorsx.HandlerConfig{Logger: slog.New(slog.NewJSONHandler(logs, nil))},
				guard.RequestID(guard.RequestIDConfig{}), guard.Must(guard.Recover(guard.RecoverConfig{})))
			d.handle("POST /v1/generations", func(http.ResponseWriter, *http.Request) error { panic(tc.panicWith()) })
			srv := httptest.NewServer(d)
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/generations", nil)
			req.Header.Set(errorsx.HeaderRequestID, "req-panic-1")
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, res)
			want := fmt.Sprintf(`{"error":{"type":"api_error","code":"internal_error","message":%q}}`, internal.Message)
			if res.StatusCode != http.StatusInternalServerError || strings.TrimSpace(body) != want {
				t.Errorf("got %d %s, want 500 %s", res.StatusCode, body, want)
			}
			if got := res.Header.Get(errorsx.HeaderShouldRetry); got != "true" {
				t.Errorf("got X-Should-Retry %q, want true", got)
			}
			for _, leak := range []string{"SELECT", "10.0.0.7", "db.go", "goroutine", "panic"} {
				if strings.Contains(body, leak) {
					t.Errorf("body leaks %q: %s", leak, body)
				}
			}
			recs := logs.Records(t, "")
			if len(recs) != 1 {
				t.Fatalf("got %d log records, want 1: %v", len(recs), recs)
			}
			r := recs[0]
			stack, _ := r["stack"].(string)
			if r["level"] != "ERROR" || r["request_id"] != "req-panic-1" || r["route"] != "/v1/generations" ||
				!strings.Contains(fmt.Sprint(r["error"]), "panic recovered") || !strings.Contains(fmt.Sprint(r["error"]), tc.wantValue) ||
				!strings.Contains(stack, "goroutine ") || !strings.Contains(stack, "guard_test.go") {
				t.Errorf("got record %v, want level, request id, route, the value and the stack", r)
			}
		})
	}
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	var b strings.Builder
	if _, err := bufio.NewReader(res.Body).WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// stackOf returns the stack the error of a recovered panic carries.
func stackOf(err error) (string, bool) {
	var st interface{ Stack() string }
	if !errors.As(err, &st) {
		return "", false
	}
	return st.Stack(), true
}

// TestRecoverError: the error Recover returns is the 500 internal_error
// whose cause is ErrPanic, with at most StackSize bytes of stack.
func TestRecoverError(t *testing.T) {
	boom := &fakeCall{route: "/x", handler: func(http.ResponseWriter, *http.Request) error { panic("boom") }}
	for _, tc := range []struct {
		size, max int
	}{
		{0, guard.DefaultStackSize},
		{100, 100},
		{1 << 20, 1 << 20},
	} {
		g := guard.Must(guard.Recover(guard.RecoverConfig{StackSize: tc.size}))
		err := g.Serve(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil), boom)
		var e *errorsx.Error
		if !errors.As(err, &e) || e.Code() != errorsx.CodeInternal || !errors.Is(err, guard.ErrPanic) ||
			!strings.Contains(err.Error(), "panic recovered: boom") {
			t.Errorf("StackSize %d: got %v, want internal_error caused by ErrPanic", tc.size, err)
		}
		if st, ok := stackOf(err); !ok || len(st) == 0 || len(st) > tc.max || !strings.Contains(st, "goroutine ") {
			t.Errorf("StackSize %d: got a stack of %d bytes (%v), want 1 to %d", tc.size, len(st), ok, tc.max)
		}
	}
	if _, err := guard.Recover(guard.RecoverConfig{StackSize: -1}); err == nil {
		t.Error("StackSize -1: got no error, want one")
	}
	// No panic: the rest's error comes back as is.
	errRest := errors.New("rest")
	g := guard.Must(guard.Recover(guard.RecoverConfig{}))
	if err := g.Serve(nil, nil, &fakeCall{route: "/x", err: errRest}); err != errRest {
		t.Errorf("no panic: got %v, want the rest's error", err)
	}
	// Recovered, for doors that recover outside a chain.
	if e := guard.Recovered("late", 0); !errors.Is(e, guard.ErrPanic) || e.Code() != errorsx.CodeInternal {
		t.Errorf("Recovered: got %v", e)
	} else if st, _ := stackOf(e); len(st) == 0 || len(st) > guard.DefaultStackSize {
		t.Errorf("Recovered: stack of %d bytes", len(st))
	}
}

// mustPanic returns what f panicked with, or nil.
func mustPanic(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

// http.ErrAbortHandler is re-panicked so net/http aborts the response,
// and a skipped request's panic goes on up.
func TestRecoverRepanics(t *testing.T) {
	abort := &fakeCall{route: "/x", handler: func(http.ResponseWriter, *http.Request) error { panic(http.ErrAbortHandler) }}
	g := guard.Must(guard.Recover(guard.RecoverConfig{}))
	if v := mustPanic(func() { _ = g.Serve(nil, nil, abort) }); v != http.ErrAbortHandler {
		t.Errorf("ErrAbortHandler: got panic %v, want it re-panicked", v)
	}
	if v := mustPanic(func() { guard.Recovered(http.ErrAbortHandler, 0) }); v != http.ErrAbortHandler {
		t.Errorf("Recovered(ErrAbortHandler): got panic %v, want it re-panicked", v)
	}
	skip := guard.Must(guard.Recover(guard.RecoverConfig{Skip: func(*http.Request) bool { return true }}))
	boom := &fakeCall{route: "/x", handler: func(http.ResponseWriter, *http.Request) error { panic("boom") }}
	if v := mustPanic(func() { _ = skip.Serve(nil, httptest.NewRequest(http.MethodGet, "/x", nil), boom) }); v != "boom" {
		t.Errorf("skipped: got panic %v, want it to go on up", v)
	}

	// Through a real server, the client sees an aborted response, not a 500.
	d := newDoor(errorsx.HandlerConfig{}, g)
	d.handle("GET /abort", func(http.ResponseWriter, *http.Request) error { panic(http.ErrAbortHandler) })
	srv := httptest.NewServer(d)
	defer srv.Close()
	if res, err := srv.Client().Get(srv.URL + "/abort"); err == nil {
		res.Body.Close()
		t.Errorf("got %d, want the connection aborted", res.StatusCode)
	}
}

// rawRequest sends the request head (request line and header fields, each
// ending in CRLF, without the blank line) to srv as it is and returns the
// response's status and body.
func rawRequest(t *testing.T, srv *httptest.Server, head string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(head + "Connection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, strings.TrimSpace(readAll(t, res))
}

func headerLimitDoor(t *testing.T, cfg guard.HeaderLimitConfig) *door {
	t.Helper()
	limit, err := guard.HeaderLimit(cfg)
	if err != nil {
		t.Fatalf("HeaderLimit(%+v): %v", cfg, err)
	}
	d := newDoor(errorsx.HandlerConfig{}, limit)
	d.handle("GET /{$}", func(w http.ResponseWriter, r *http.Request) error {
		_, err := w.Write([]byte("ok"))
		return err
	})
	return d
}

func tooLarge(max int) string {
	return `{"error":{"type":"invalid_request_error","code":"invalid_request","message":"The request headers are too large: at most ` +
		strconv.Itoa(max) + ` bytes are accepted."}}`
}

// TestHeaderLimitOverHTTP: the size counted is the header section as the
// client sent it over HTTP/1.1: the request line and each field line with
// their CRLFs (Connection: close included), the final blank line not.
func TestHeaderLimitOverHTTP(t *testing.T) {
	const line = "GET / HTTP/1.1\r\nHost: example.com\r\n"
	size := len(line) + len("Connection: close\r\n")
	pad := func(n int) string { return "X-Pad: " + strings.Repeat("p", n-len("X-Pad: \r\n")) + "\r\n" }
	srv := httptest.NewServer(headerLimitDoor(t, guard.HeaderLimitConfig{MaxBytes: 200}))
	defer srv.Close()

	if status, body := rawRequest(t, srv, line+pad(200-size)); status != 200 || body != "ok" {
		t.Errorf("at the limit: got %d %s, want 200", status, body)
	}
	if status, body := rawRequest(t, srv, line+pad(201-size)); status != 400 || body != tooLarge(200) {
		t.Errorf("one byte over: got %d %s, want 400 %s", status, body, tooLarge(200))
	}
	// Any path, known or not: the limit answers before the route's 404.
	if status, body := rawRequest(t, srv, "GET /nope HTTP/1.1\r\nHost: example.com\r\n"+pad(200)); status != 400 || body != tooLarge(200) {
		t.Errorf("unknown path: got %d %s, want 400", status, body)
	}
	if status, _ := rawRequest(t, srv, "GET /nope HTTP/1.1\r\nHost: example.com\r\n"); status != 404 {
		t.Errorf("unknown path, small headers: got %d, want 404", status)
	}
}

func TestHeaderLimit(t *testing.T) {
	// sizeOf is the size HeaderLimit counts for GET / with Host example.com
	// and the header X-Pad: pad, as HTTP/1.1 would send them.
	sizeOf := func(pad string) int {
		return len("GET / HTTP/1.1\r\n") + len("Host: example.com\r\n") + len("X-Pad: "+pad+"\r\n")
	}
	tests := []struct {
		name   string
		cfg    guard.HeaderLimitConfig
		pad    string
		status int
	}{
		{"small headers pass", guard.HeaderLimitConfig{}, "x", 200},
		{"default limit is 16 KiB: at it", guard.HeaderLimitConfig{},
			strings.Repeat("a", guard.DefaultMaxHeaderBytes-sizeOf("")), 200},
		{"default limit is 16 KiB: one byte over", guard.HeaderLimitConfig{},
			strings.Repeat("a", guard.DefaultMaxHeaderBytes-sizeOf("")+1), 400},
		{"custom limit: at it", guard.HeaderLimitConfig{MaxBytes: 100}, strings.Repeat("a", 100-sizeOf("")), 200},
		{"custom limit: over it", guard.HeaderLimitConfig{MaxBytes: 100}, strings.Repeat("a", 101-sizeOf("")), 400},
		{"skipped", guard.HeaderLimitConfig{MaxBytes: 100, Skip: func(*http.Request) bool { return true }},
			strings.Repeat("a", 1000), 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := headerLimitDoor(t, tc.cfg)
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Host = "example.com"
			req.Header.Set("X-Pad", tc.pad)
			rec := httptest.NewRecorder()
			d.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d %s, want %d", rec.Code, rec.Body, tc.status)
			}
			if tc.status != 400 {
				return
			}
			max := tc.cfg.MaxBytes
			if max == 0 {
				max = guard.DefaultMaxHeaderBytes
			}
			if got := strings.TrimSpace(rec.Body.String()); got != tooLarge(max) {
				t.Errorf("body %s, want %s", got, tooLarge(max))
			}
		})
	}
}

// TestHeaderLimitCounts: repeated fields and many small fields add up (the
// limit is on the whole header section), and a Host field is counted once.
func TestHeaderLimitCounts(t *testing.T) {
	d := headerLimitDoor(t, guard.HeaderLimitConfig{MaxBytes: 1000})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	for range 50 {
		req.Header.Add("X-Many", "0123456789") // 50 × 20 bytes = 1000 bytes
	}
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: 50 values of 20 bytes plus the request line exceed 1000 bytes", rec.Code)
	}

	// "GET / HTTP/1.1\r\n" (16) + "Host: example.com\r\n" (19) = 35.
	d = headerLimitDoor(t, guard.HeaderLimitConfig{MaxBytes: 35})
	req = httptest.NewRequest(http.MethodGet, "/", nil)
	req.Host = "example.com"
	req.Header.Set("Host", "example.com")
	rec = httptest.NewRecorder()
	d.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("a Host field beside r.Host: status %d, want 200 (Host counted once)", rec.Code)
	}
}

func TestHeaderLimitConfigErrors(t *testing.T) {
	if _, err := guard.HeaderLimit(guard.HeaderLimitConfig{MaxBytes: -1}); err == nil || !strings.HasPrefix(err.Error(), "guard: ") {
		t.Errorf("MaxBytes -1: got %v, want an error naming the package", err)
	}
}
