package conformance_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clipia/apiguard/examples/server/app"
	"github.com/clipia/apiguard/internal/conformance"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/storetest"
)

// gate blocks the generations whose prompt is "hold" until released, so
// that a duplicate can find its key in progress.
type gate struct {
	entered chan struct{}
	release chan struct{}
}

func newGate() *gate {
	return &gate{entered: make(chan struct{}, 1), release: make(chan struct{})}
}

func (g *gate) generate(ctx context.Context, prompt string) error {
	if prompt != "hold" {
		return nil
	}
	g.entered <- struct{}{}
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// referenceApps builds the reference server's app on each front door, each
// with its own fresh in-memory stores and ledger, a limit of 30 requests
// per key that refills one token per 1000 s (so the 429 comes at the same
// step on every door), and g's generations. The rate limits are kept on a
// clock that stands still, so every Retry-After and RateLimit t is the
// same: on the real clock a second spent between a key's first request and
// its 429 (93 requests on a loaded machine) turned 1000 into 999.
func referenceApps(t *testing.T, g map[string]*gate) []conformance.App {
	t.Helper()
	var apps []conformance.App
	var clock storetest.Clock
	for _, fw := range app.Frameworks() {
		gt := newGate()
		g[fw] = gt
		limits := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{Now: clock.Now})
		a, err := app.New(context.Background(), app.Config{
			Framework: fw, Rate: 0.001, Burst: 30, Credits: 1000,
			IdempotencyTTL: time.Hour, LockTTL: 30 * time.Second,
			Generate: gt.generate, RateLimitStore: limits,
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(a.Handler())
		t.Cleanup(func() { srv.Close(); _ = a.Close(); _ = limits.Close() })
		apps = append(apps, conformance.App{Name: fw, Server: srv})
	}
	return apps
}

var genID = regexp.MustCompile(`gen_[0-9a-f-]{36}`)

// step is one request of the script and the status it must get.
type step struct {
	name   string
	req    conformance.Request
	status int
	// check, when set, looks at Echo v4's answer beyond its status.
	check func(t *testing.T, res conformance.Response)
}

func bearer(key string, kv ...string) http.Header {
	h := http.Header{}
	if key != "" {
		h.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func postGen(key, body string, kv ...string) conformance.Request {
	h := bearer(key, append([]string{"Content-Type", "application/json"}, kv...)...)
	return conformance.Request{Method: http.MethodPost, Path: "/v1/generations", Header: h, Body: body}
}

func hasHeader(name, want string) func(t *testing.T, res conformance.Response) {
	return func(t *testing.T, res conformance.Response) {
		t.Helper()
		if got := res.Header.Get(name); !strings.Contains(got, want) {
			t.Errorf("%s = %q, want it to contain %q", name, got, want)
		}
	}
}

func all(checks ...func(t *testing.T, res conformance.Response)) func(t *testing.T, res conformance.Response) {
	return func(t *testing.T, res conformance.Response) {
		t.Helper()
		for _, c := range checks {
			c(t, res)
		}
	}
}

// TestReferenceServerAgrees sends one script of requests, covering every
// row of the catalogue and every header promise (request id,
// WWW-Authenticate, RateLimit headers, Retry-After, X-Should-Retry, replay,
// HEAD, problem+json), to the reference server on each front door, and
// demands the same status, headers and body bytes from all five (request
// ids, dates and generation ids aside): echo4, echo5, nethttp, chi, gin.
func TestReferenceServerAgrees(t *testing.T) {
	gates := map[string]*gate{}
	apps := referenceApps(t, gates)
	const body = `{"model":"clipia-fast","prompt":"a cat","duration":2}`
	script := []step{
		{name: "healthz", req: conformance.Request{Method: "GET", Path: "/healthz"}, status: 200},
		{name: "no key", req: conformance.Request{Method: "GET", Path: "/v1/models"}, status: 401,
			check: hasHeader("WWW-Authenticate", `Bearer realm="api"`)},
		{name: "unknown key", req: conformance.Request{Method: "GET", Path: "/v1/models", Header: bearer("sk_test_nope")}, status: 401,
			check: hasHeader("WWW-Authenticate", `error="invalid_token"`)},
		{name: "revoked key", req: conformance.Request{Method: "GET", Path: "/v1/models", Header: bearer("sk_test_revoked")}, status: 401},
		{name: "models", req: conformance.Request{Method: "GET", Path: "/v1/models", Header: bearer("sk_test_full")}, status: 200,
			check: all(hasHeader("RateLimit-Policy", `"default";q=30;w=30000`), hasHeader("RateLimit", `"default";r=29;t=1000`))},
		{name: "models, X-API-Key", req: conformance.Request{Method: "GET", Path: "/v1/models", Header: bearer("", "X-API-Key", "sk_test_full")}, status: 200},
		{name: "HEAD models", req: conformance.Request{Method: "HEAD", Path: "/v1/models", Header: bearer("sk_test_full")}, status: 200},
		{name: "model", req: conformance.Request{Method: "GET", Path: "/v1/models/clipia-pro", Header: bearer("sk_test_full")}, status: 200},
		{name: "unknown model id", req: conformance.Request{Method: "GET", Path: "/v1/models/nope", Header: bearer("sk_test_full")}, status: 404},
		{name: "unknown route, no key", req: conformance.Request{Method: "GET", Path: "/v1/nope"}, status: 404},
		{name: "wrong method", req: conformance.Request{Method: "DELETE", Path: "/v1/models"}, status: 404},
		{name: "HEAD unknown route", req: conformance.Request{Method: "HEAD", Path: "/v1/nope"}, status: 404},
		// Odd paths: one reading on every door (guard.CleanPath), never a
		// redirect (the client would follow it).
		{name: "double slash", req: conformance.Request{Method: "GET", Path: "//v1/models", Header: bearer("sk_test_readonly")}, status: 404},
		{name: "dot-dot segment", req: conformance.Request{Method: "GET", Path: "/v1/../v1/models", Header: bearer("sk_test_readonly")}, status: 404},
		{name: "dot segment", req: conformance.Request{Method: "GET", Path: "/v1/./models", Header: bearer("sk_test_readonly")}, status: 404},
		{name: "trailing slash", req: conformance.Request{Method: "GET", Path: "/v1/models/", Header: bearer("sk_test_readonly")}, status: 404},
		{name: "upper case", req: conformance.Request{Method: "GET", Path: "/V1/models", Header: bearer("sk_test_readonly")}, status: 404},
		{name: "encoded unreserved in a static segment", req: conformance.Request{Method: "GET", Path: "/%761/mod%65ls", Header: bearer("sk_test_readonly")}, status: 200},
		{name: "encoded unreserved in a parameter", req: conformance.Request{Method: "GET", Path: "/v1/models/clipia%2Dfast", Header: bearer("sk_test_readonly")}, status: 200},
		{name: "encoded slash in a parameter", req: conformance.Request{Method: "GET", Path: "/v1/models/clipia%2Ffast", Header: bearer("sk_test_readonly")}, status: 404},
		{name: "encoded space in a parameter", req: conformance.Request{Method: "GET", Path: "/v1/models/clipia%20fast", Header: bearer("sk_test_readonly")}, status: 404},
		{name: "own request id", req: conformance.Request{Method: "GET", Path: "/v1/balance", Header: bearer("sk_test_full", "X-Request-Id", "req-conformance-1")}, status: 200},
		{name: "read-only key writes", req: postGen("sk_test_readonly", body), status: 403},
		{name: "bad JSON", req: postGen("sk_test_full", `{"model":`), status: 400},
		{name: "unknown field", req: postGen("sk_test_full", `{"model":"clipia-fast","prompt":"a","colour":"red"}`), status: 400,
			check: func(t *testing.T, res conformance.Response) {
				if !strings.Contains(string(res.Body), `"param":"colour"`) {
					t.Errorf("body %s, want param colour", res.Body)
				}
			}},
		{name: "unknown model", req: postGen("sk_test_full", `{"model":"nope","prompt":"a"}`), status: 404},
		{name: "too long", req: postGen("sk_test_full", `{"model":"clipia-fast","prompt":"a","duration":99}`), status: 422},
		{name: "422 as problem+json", req: postGen("sk_test_full", `{"model":"clipia-fast","prompt":"a","duration":99}`, "Accept", "application/problem+json"), status: 422,
			check: hasHeader("Content-Type", "application/problem+json")},
		{name: "no credits", req: postGen("sk_test_nocredits", body), status: 402},
		{name: "maintenance", req: postGen("sk_test_full", `{"model":"clipia-maintenance","prompt":"a"}`), status: 503,
			check: all(hasHeader("Retry-After", "1"), hasHeader("X-Should-Retry", "true"))},
		{name: "faulty", req: postGen("sk_test_full", `{"model":"clipia-faulty","prompt":"a"}`), status: 500},
		{name: "generation", req: postGen("sk_test_full", body, "Idempotency-Key", "k-1"), status: 201},
		{name: "replay", req: postGen("sk_test_full", body, "Idempotency-Key", "k-1"), status: 201,
			check: hasHeader("Idempotent-Replayed", "true")},
		{name: "key reuse", req: postGen("sk_test_full", `{"model":"clipia-fast","prompt":"a dog"}`, "Idempotency-Key", "k-1"), status: 409},
		{name: "bad idempotency key", req: postGen("sk_test_full", body, "Idempotency-Key", strings.Repeat("k", 300)), status: 400},
		{name: "balance after one charge", req: conformance.Request{Method: "GET", Path: "/v1/balance", Header: bearer("sk_test_full")}, status: 200,
			check: func(t *testing.T, res conformance.Response) {
				if string(res.Body) != "{\"credits\":998}\n" {
					t.Errorf("balance %s, want 998 (one charge of 2)", res.Body)
				}
			}},
	}
	// Spend sk_test_other's 30 tokens; the 31st request is refused.
	for i := 0; i < 30; i++ {
		script = append(script, step{name: "spend", req: conformance.Request{Method: "GET", Path: "/v1/balance", Header: bearer("sk_test_other")}, status: 200})
	}
	script = append(script, step{name: "rate limited", req: conformance.Request{Method: "GET", Path: "/v1/balance", Header: bearer("sk_test_other")}, status: 429,
		check: all(hasHeader("Retry-After", "1000"), hasHeader("RateLimit", `"default";r=0;t=1000`), hasHeader("X-Should-Retry", "true"))})

	for _, s := range script {
		var first conformance.Response
		for i, a := range apps {
			res := conformance.Do(t, a, s.req)
			res.Body = genID.ReplaceAll(res.Body, []byte("gen_<id>"))
			if loc := res.Header.Get("Location"); loc != "" {
				res.Header.Set("Location", genID.ReplaceAllString(loc, "gen_<id>"))
			}
			if i == 0 {
				first = res
				if res.Status != s.status {
					t.Errorf("%s: echo4 answered %d, want %d: %s", s.name, res.Status, s.status, res.Body)
				}
				if s.check != nil {
					s.check(t, res)
				}
				continue
			}
			if d := conformance.Diff(res, first); d != "" {
				t.Errorf("%s: %s differs from echo4:\n%s", s.name, a.Name, d)
			}
		}
	}

	// In progress: a duplicate while the first request still runs.
	var wg sync.WaitGroup
	firsts := make([]conformance.Response, len(apps))
	for i, a := range apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			firsts[i] = conformance.Do(t, a, postGen("sk_test_full", `{"model":"clipia-fast","prompt":"hold"}`, "Idempotency-Key", "k-hold"))
		}()
		<-gates[a.Name].entered
	}
	var dups []conformance.Response
	for _, a := range apps {
		dups = append(dups, conformance.Do(t, a, postGen("sk_test_full", `{"model":"clipia-fast","prompt":"hold"}`, "Idempotency-Key", "k-hold")))
		close(gates[a.Name].release)
	}
	wg.Wait()
	if dups[0].Status != http.StatusConflict || dups[0].Header.Get("Retry-After") == "" {
		t.Errorf("in progress: echo4 answered %d (Retry-After %q), want 409 with Retry-After", dups[0].Status, dups[0].Header.Get("Retry-After"))
	}
	for i := 1; i < len(apps); i++ {
		if d := conformance.Diff(dups[i], dups[0]); d != "" {
			t.Errorf("in progress: %s differs from echo4:\n%s", apps[i].Name, d)
		}
		if firsts[i].Status != http.StatusCreated {
			t.Errorf("in progress: %s's first request answered %d, want 201", apps[i].Name, firsts[i].Status)
		}
	}
}
