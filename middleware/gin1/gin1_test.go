package gin1_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/internal/alloctest"
	"github.com/clipia/apiguard/internal/logtest"
	"github.com/clipia/apiguard/middleware/gin1"
	"github.com/gin-gonic/gin"
)

func init() { gin.SetMode(gin.TestMode) }

// result is one answer as the client saw it.
type result struct {
	status int
	header http.Header
	body   string
	code   string // the envelope's error.code
	errors int    // envelopes in the body
}

// do serves one request through a real server.
func do(t *testing.T, srv *httptest.Server, method, path string, header map[string]string) result {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var env struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(b, &env)
	return result{res.StatusCode, res.Header, string(b), env.Error.Code, strings.Count(string(b), `"error"`)}
}

// app builds an engine with f, installed with RequestID and Recover.
func app(t *testing.T, logs *logtest.Buffer, f func(e *gin.Engine)) *httptest.Server {
	t.Helper()
	e := gin.New()
	h := gin1.Install(e, gin1.Config{
		Errors: errorsx.HandlerConfig{Logger: logs.Logger()},
		Use:    []guard.Guard{guard.RequestID(guard.RequestIDConfig{}), guard.Must(guard.Recover(guard.RecoverConfig{}))},
	})
	f(e)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func ok(c *gin.Context) error {
	c.JSON(http.StatusOK, gin.H{"id": c.Param("id"), "method": c.Request.Method})
	return nil
}

// gin's own answers (redirects, text 404 and 405) become the 404 row.
func TestNoRedirects(t *testing.T) {
	srv := app(t, &logtest.Buffer{}, func(e *gin.Engine) {
		e.GET("/v1/models", gin1.Handle(ok))
		e.GET("/v1/models/:id", gin1.Handle(ok))
		e.GET("/static/*path", gin1.Handle(ok))
	})
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/v1/models", 200, ""},
		{"GET", "/v1/models/", 404, "not_found"},    // gin: 301 to /v1/models
		{"GET", "/V1/MODELS", 404, "not_found"},     // gin with RedirectFixedPath: 301
		{"GET", "/v1//models", 404, "not_found"},    // CleanPath
		{"POST", "/v1/models", 404, "not_found"},    // gin with HandleMethodNotAllowed: 405
		{"GET", "/v1/models%2Fx", 404, "not_found"}, // routed on the escaped path
		{"GET", "/static", 404, "not_found"},        // gin: 301 to /static/
		{"GET", "/static/a/b", 200, ""},
		{"GET", "/v1/mod%65ls/x", 200, ""},
	} {
		got := do(t, srv, tc.method, tc.path, nil)
		if got.status != tc.status || got.code != tc.code || got.header.Get("Location") != "" {
			t.Errorf("%s %s: got %d %q Location %q, want %d %q", tc.method, tc.path, got.status, got.code,
				got.header.Get("Location"), tc.status, tc.code)
		}
		if got.status == 404 && got.header.Get("X-Request-Id") == "" {
			t.Errorf("%s %s: 404 without X-Request-Id", tc.method, tc.path)
		}
	}
}

// HEAD is served by a HEAD route when one matches, else as GET.
func TestHead(t *testing.T) {
	srv := app(t, &logtest.Buffer{}, func(e *gin.Engine) {
		e.GET("/a/:id", gin1.Handle(ok))
		e.HEAD("/b/:id", func(c *gin.Context) { c.Header("X-Head", "own"); c.Status(http.StatusNoContent) })
		e.GET("/b/:id", gin1.Handle(ok))
		// A handler that writes without WriteHeader (promhttp does): 200.
		e.GET("/d", func(c *gin.Context) { _, _ = c.Writer.Write([]byte("text")) })
	})
	for _, tc := range []struct {
		path   string
		status int
		length string
		head   string
	}{
		{"/a/1", 200, `25`, ""}, // {"id":"1","method":"GET"}
		{"/b/1", 204, "", "own"},
		{"/b/", 404, "", ""},
		{"/c", 404, "", ""},
		{"/d", 200, "4", ""},
	} {
		got := do(t, srv, "HEAD", tc.path, nil)
		if got.status != tc.status || got.body != "" || got.header.Get("X-Head") != tc.head ||
			(tc.length != "" && got.header.Get("Content-Length") != tc.length) {
			t.Errorf("HEAD %s: got %d %v %q, want %d Content-Length %q X-Head %q", tc.path, got.status, got.header,
				got.body, tc.status, tc.length, tc.head)
		}
	}
}

// A handler that wrote its response and then returns an error: the
// response stands, the error is logged once.
func TestErrorAfterWrite(t *testing.T) {
	logs := &logtest.Buffer{}
	srv := app(t, logs, func(e *gin.Engine) {
		e.GET("/late", gin1.Use(guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
			return c.Next(w, r)
		})), gin1.Handle(func(c *gin.Context) error {
			c.String(http.StatusAccepted, "partial")
			return errors.New("db gone")
		}))
	})
	got := do(t, srv, "GET", "/late", nil)
	if got.status != http.StatusAccepted || got.body != "partial" {
		t.Errorf("got %d %q, want 202 partial", got.status, got.body)
	}
	recs := logs.Records(t, "")
	if len(recs) != 1 || recs[0]["msg"] != "error after response was committed" || recs[0]["route"] != "/late" {
		t.Errorf("logs: got %v, want one committed record for /late", recs)
	}
}

// Errors of handlers and guards, rendered once by the outermost Use, seen by
// every enclosing guard; a guard's error or its own answer stops the chain.
func TestErrors(t *testing.T) {
	keys := guard.Must(auth.NewMemoryKeyStore([]auth.KeyConfig{{Key: "sk_test_a", KeyID: "k", Tenant: "acme"}}))
	authn := guard.Must(auth.New(auth.Config{Store: keys}))
	var ran atomic.Int32
	var seen atomic.Value
	observe := guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
		err := c.Next(w, r)
		seen.Store(errorsx.From(err).Code())
		return err
	})
	logs := &logtest.Buffer{}
	srv := app(t, logs, func(e *gin.Engine) {
		v1 := e.Group("/v1", gin1.Use(observe, authn))
		v1.POST("/items/:id", gin1.Use(guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
			if c.Param("id") == "mine" {
				w.WriteHeader(http.StatusNoContent) // answers itself: nothing else runs
				return nil
			}
			return c.Next(w, r)
		})), gin1.Handle(func(c *gin.Context) error {
			ran.Add(1)
			return errorsx.InsufficientCredits()
		}))
		v1.GET("/plain", func(c *gin.Context) {
			gin1.Error(c, errorsx.RateLimitExceeded())
			c.String(http.StatusOK, "ignored")
		})
		e.GET("/panic", gin1.Handle(func(c *gin.Context) error { panic("boom at 10.0.0.1") }))
	})
	key := map[string]string{"Authorization": "Bearer sk_test_a"}

	got := do(t, srv, "POST", "/v1/items/x", nil)
	if got.status != 401 || got.code != "invalid_api_key" || ran.Load() != 0 {
		t.Errorf("no key: got %d %q, handler ran %d times, want 401 invalid_api_key and no run", got.status, got.code, ran.Load())
	}
	got = do(t, srv, "POST", "/v1/items/mine", key)
	if got.status != 204 || ran.Load() != 0 {
		t.Errorf("guard's own answer: got %d, handler ran %d times, want 204 and no run", got.status, ran.Load())
	}
	got = do(t, srv, "POST", "/v1/items/x", key)
	if got.status != 402 || got.code != "insufficient_credits" || got.errors != 1 || ran.Load() != 1 {
		t.Errorf("handler error: got %d %q %d envelopes, ran %d, want one 402", got.status, got.code, got.errors, ran.Load())
	}
	if seen.Load() != errorsx.CodeInsufficientCredits {
		t.Errorf("the group's guard saw %v from Next, want the handler's error", seen.Load())
	}
	got = do(t, srv, "GET", "/v1/plain", key)
	if got.status != 429 || got.code != "rate_limit_exceeded" || strings.Contains(got.body, "ignored") {
		t.Errorf("Error: got %d %q %q, want 429 alone", got.status, got.code, got.body)
	}
	logs.Reset()
	got = do(t, srv, "GET", "/panic", nil)
	if got.status != 500 || got.code != "internal_error" || strings.Contains(got.body, "10.0.0.1") {
		t.Errorf("panic: got %d %q %q, want 500 internal_error", got.status, got.code, got.body)
	}
	if recs := logs.Records(t, "request failed"); len(recs) != 1 || recs[0]["route"] != "/panic" || recs[0]["stack"] == nil {
		t.Errorf("panic logs: got %v, want one record with route and stack", recs)
	}
}

// The idempotency guard renders the handler's error early, into its
// recorder, and no door renders it again; the replay is the same answer.
func TestIdempotencyRenderedOnce(t *testing.T) {
	store := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
	t.Cleanup(func() { _ = store.Close() })
	idem := guard.Must(idempotency.New(idempotency.Config{Store: store}))
	var ran atomic.Int32
	logs := &logtest.Buffer{}
	srv := app(t, logs, func(e *gin.Engine) {
		e.POST("/v1/charge", gin1.Use(idem), gin1.Handle(func(c *gin.Context) error {
			ran.Add(1)
			c.Header("X-Handler", "yes")
			return errorsx.InsufficientCredits()
		}))
		e.POST("/v1/created", gin1.Use(idem), gin1.Handle(func(c *gin.Context) error {
			ran.Add(1)
			c.Status(http.StatusCreated) // status only: gin sends it at the end
			return nil
		}))
	})
	h := map[string]string{idempotency.HeaderIdempotencyKey: "k-1", "Content-Type": "application/json"}
	first := do(t, srv, "POST", "/v1/charge", h)
	second := do(t, srv, "POST", "/v1/charge", h)
	if first.status != 402 || first.errors != 1 || second.status != 402 || second.body != first.body || ran.Load() != 1 {
		t.Errorf("got %d %q then %d %q, handler ran %d times; want one 402 envelope, replayed", first.status,
			first.body, second.status, second.body, ran.Load())
	}
	if second.header.Get(idempotency.HeaderIdempotentReplayed) != "true" {
		t.Errorf("second answer is no replay: %v", second.header)
	}
	if recs := logs.Records(t, "request failed"); len(recs) != 1 || recs[0]["route"] != "/v1/charge" {
		t.Errorf("logs: got %v, want one record for /v1/charge", recs)
	}
	h[idempotency.HeaderIdempotencyKey] = "k-2"
	first = do(t, srv, "POST", "/v1/created", h)
	second = do(t, srv, "POST", "/v1/created", h)
	if first.status != 201 || second.status != 201 || second.header.Get(idempotency.HeaderIdempotentReplayed) != "true" || ran.Load() != 2 {
		t.Errorf("status only: got %d then %d %v, ran %d; want 201 stored and replayed", first.status, second.status,
			second.header, ran.Load())
	}
}

// The door adds no allocation to a request gin routes: its per-request
// values are pooled.
func TestNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop values at random")
	}
	pass := guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error { return c.Next(w, r) })
	var own struct{ http.ResponseWriter } // a guard's own writer (the test serves one request at a time)
	wrap := guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
		own.ResponseWriter = w
		return c.Next(&own, r)
	})
	bare := gin.New()
	bare.GET("/v1/models/:id", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	e := gin.New()
	h := gin1.Install(e, gin1.Config{Use: []guard.Guard{guard.Must(guard.Recover(guard.RecoverConfig{}))}})
	e.Group("/v1", gin1.Use(pass)).GET("/models/:id", gin1.Use(wrap, pass), gin1.Handle(func(c *gin.Context) error {
		c.Status(http.StatusNoContent)
		return nil
	}))
	for _, method := range []string{"GET", "HEAD"} {
		r := httptest.NewRequest(method, "/v1/models/x", nil)
		w := httptest.NewRecorder()
		want := alloctest.PerRun(100, func() { bare.ServeHTTP(w, r) })
		if got := alloctest.PerRun(100, func() { h.ServeHTTP(w, r) }); got > want {
			t.Errorf("%s: got %v allocations, bare gin %v", method, got, want)
		}
	}
}
