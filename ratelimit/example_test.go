package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/middleware/nethttp"
	"github.com/clipia/apiguard/ratelimit"
)

// A route limited to 1 request per second with a burst of 2, and a daily
// quota of 100, on the default in-memory store; the limiter used directly
// on net/http, without a front door (a door runs it as a guard.Guard:
// see Example_perRoute).
func ExampleNew() {
	limiter, err := ratelimit.New(ratelimit.Config{
		Policies: []ratelimit.Policy{
			ratelimit.PerSecond("burst", 1, 2),
			ratelimit.PerDay("daily", 100, 100),
		},
	})
	if err != nil {
		panic(err)
	}
	renderer := errorsx.NewRenderer(errorsx.HandlerConfig{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		if err := limiter.Limit(w, r, r.Pattern); err != nil {
			renderer.Write(w, r, r.Pattern, errorsx.From(err))
			return
		}
		fmt.Fprint(w, "ok")
	})

	for range 3 {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/models", nil))
		fmt.Printf("%d RateLimit: %s Retry-After: %q\n", rec.Code, rec.Header().Get("RateLimit"), rec.Header().Get("Retry-After"))
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/models", nil))
	fmt.Println(rec.Header().Get("RateLimit-Policy"))
	fmt.Println(rec.Body.String())
	// Output:
	// 200 RateLimit: "burst";r=1;t=1 Retry-After: ""
	// 200 RateLimit: "burst";r=0;t=1 Retry-After: ""
	// 429 RateLimit: "burst";r=0;t=1 Retry-After: "1"
	// "burst";q=2;w=2, "daily";q=100;w=86400
	// {"error":{"type":"rate_limit_error","code":"rate_limit_exceeded","message":"Rate limit exceeded. Retry after the time given in Retry-After."}}
}

// The store on its own, with a clock the caller controls.
func ExampleMemoryStore_Take() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	store := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{Now: func() time.Time { return now }})
	defer store.Close()
	policies := []ratelimit.Policy{{Name: "slow", Rate: 1, Period: 10 * time.Second, Burst: 2}}

	for range 3 {
		r, _ := store.Take(context.Background(), "key:alice", policies, 1)
		fmt.Printf("allowed=%v remaining=%d retry=%v full in %v\n", r.Allowed, r.Remaining, r.RetryAfter, r.ResetAfter)
	}
	now = now.Add(10 * time.Second)
	r, _ := store.Take(context.Background(), "key:alice", policies, 1)
	fmt.Printf("10s later: allowed=%v remaining=%d\n", r.Allowed, r.Remaining)

	_, err := store.Take(context.Background(), "key:alice", policies, 3)
	fmt.Println(err)
	// Output:
	// allowed=true remaining=1 retry=0s full in 10s
	// allowed=true remaining=0 retry=0s full in 20s
	// allowed=false remaining=0 retry=10s full in 20s
	// 10s later: allowed=true remaining=0
	// ratelimit: cost 3 exceeds the burst 2 of policy "slow"
}

// The pure bucket math: a bucket 1.5 tokens' worth from full.
func ExamplePolicy_Decide() {
	p := ratelimit.PerSecond("default", 2, 3) // a token every 500ms, 3 at most
	d, _ := p.Decide(750*time.Millisecond, 2)
	fmt.Printf("%+v\n", d)
	d, _ = p.Decide(750*time.Millisecond, 1)
	fmt.Printf("%+v\n", d)
	// Output:
	// {Allowed:false Remaining:1 RetryAfter:250ms ResetAfter:750ms}
	// {Allowed:true Remaining:0 RetryAfter:0s ResetAfter:1.25s}
}

// Per-route policies on one shared store: a daily quota named alike on two
// routes is one quota per caller.
func Example_perRoute() {
	store := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{MaxKeys: 1_000_000})
	defer store.Close()
	daily := ratelimit.PerDay("daily", 3, 3)
	models := guard.Must(ratelimit.New(ratelimit.Config{
		Store:    store,
		Policies: []ratelimit.Policy{ratelimit.PerSecond("models", 10, 20), daily},
	}))
	generations := guard.Must(ratelimit.New(ratelimit.Config{
		Store:    store,
		Policies: []ratelimit.Policy{ratelimit.PerSecond("generations", 2, 5), daily},
		CostFunc: func(*http.Request) (int64, error) { return 1, nil },
	}))
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux := http.NewServeMux()
	mux.Handle("GET /v1/models", nethttp.Use(models)(ok))
	mux.Handle("POST /v1/generations", nethttp.Use(generations)(ok))
	h := nethttp.Install(mux, nethttp.Config{})

	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/v1/models"},
		{http.MethodPost, "/v1/generations"},
		{http.MethodPost, "/v1/generations"},
		{http.MethodGet, "/v1/models"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(r.method, r.path, nil))
		fmt.Println(r.method, r.path, rec.Code, rec.Header().Get("RateLimit"))
	}
	// Output:
	// GET /v1/models 204 "daily";r=2;t=28800
	// POST /v1/generations 204 "daily";r=1;t=28800
	// POST /v1/generations 204 "daily";r=0;t=28800
	// GET /v1/models 429 "daily";r=0;t=28800
}
