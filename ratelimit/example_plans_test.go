package ratelimit_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/middleware/nethttp"
	"github.com/clipia/apiguard/principal"
	"github.com/clipia/apiguard/ratelimit"
)

// Limits per plan: free 2/s burst 5, pro 50/s burst 100, and an override
// for one tenant; anonymous callers get 1/s. The plan comes from the
// caller's API key metadata ("plan"), which an auth guard puts into the
// request's context; here the test sets the principal itself.
func ExampleConfig_plans() {
	limiter := guard.Must(ratelimit.New(ratelimit.Config{
		Policies: []ratelimit.Policy{ratelimit.PerSecond("anonymous", 1, 1)},
		Plans: map[string][]ratelimit.Policy{
			"free":        {ratelimit.PerSecond("rate", 2, 5)},
			"pro":         {ratelimit.PerSecond("rate", 50, 100)},
			"tenant-acme": {ratelimit.PerSecond("rate", 200, 400)},
		},
		PlanFunc: func(r *http.Request) (string, error) {
			if p, ok := principal.FromContext(r.Context()); ok && p.Tenant == "acme" {
				return "tenant-acme", nil // the tenant's negotiated override
			}
			return ratelimit.PrincipalPlan(r) // Metadata["plan"], "" for none
		},
	}))
	mux := http.NewServeMux()
	mux.Handle("GET /v1/models", nethttp.Use(limiter)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	h := nethttp.Install(mux, nethttp.Config{})

	for _, p := range []*principal.Principal{
		{KeyID: "key_free", Metadata: map[string]string{"plan": "free"}},
		{KeyID: "key_pro", Metadata: map[string]string{"plan": "pro"}},
		{KeyID: "key_acme", Tenant: "acme", Metadata: map[string]string{"plan": "pro"}},
		nil, // anonymous
	} {
		r := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
		if p != nil {
			r = r.WithContext(principal.NewContext(r.Context(), p))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		fmt.Printf("%d %s | %s\n", rec.Code, rec.Header().Get("RateLimit-Policy"), rec.Header().Get("RateLimit"))
	}
	// Output:
	// 200 "rate";q=5;w=3 | "rate";r=4;t=1
	// 200 "rate";q=100;w=2 | "rate";r=99;t=1
	// 200 "rate";q=400;w=2 | "rate";r=399;t=1
	// 200 "anonymous";q=1;w=1 | "anonymous";r=0;t=1
}

// A route whose real cost is known only after the work: the handler charges
// it with AddCost, and the caller's next request waits for it.
func ExampleAddCost() {
	limiter := guard.Must(ratelimit.New(ratelimit.Config{
		Policies:     []ratelimit.Policy{ratelimit.PerSecond("seconds", 1, 10)},
		DeferredCost: true,
	}))
	mux := http.NewServeMux()
	mux.Handle("POST /v1/generations", nethttp.Use(limiter)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		generated := int64(9) // e.g. the seconds of video generated
		ratelimit.AddCost(r.Context(), generated-1)
	})))
	h := nethttp.Install(mux, nethttp.Config{})
	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/generations", nil))
		fmt.Printf("%d RateLimit: %s Retry-After: %q\n", rec.Code, rec.Header().Get("RateLimit"), rec.Header().Get("Retry-After"))
	}
	// Output:
	// 200 RateLimit: "seconds";r=9;t=1 Retry-After: ""
	// 200 RateLimit: "seconds";r=0;t=1 Retry-After: ""
	// 429 RateLimit: "seconds";r=0;t=9 Retry-After: "9"
}
