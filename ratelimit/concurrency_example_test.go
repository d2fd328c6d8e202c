package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/principal"
	"github.com/clipia/apiguard/ratelimit"
)

// At most two generations in flight per tenant, on the default in-memory
// store; the guard used directly on net/http (the front doors
// middleware.ConcurrencyLimit, echo5.ConcurrencyLimit and
// nethttp.ConcurrencyLimit do this translation). Two requests hold their
// slots while a third arrives.
func ExampleNewConcurrency() {
	guard, err := ratelimit.NewConcurrency(ratelimit.ConcurrencyConfig{Limit: 2, Name: "generations"})
	if err != nil {
		panic(err)
	}
	renderer := errorsx.NewRenderer(errorsx.HandlerConfig{})
	acme := principal.NewContext(context.Background(), &principal.Principal{KeyID: "key_1", Tenant: "acme"})
	request := func() (*httptest.ResponseRecorder, func()) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequestWithContext(acme, http.MethodPost, "/v1/generations", nil)
		release, err := guard.Acquire(rec, req, "POST /v1/generations")
		if err != nil {
			renderer.Write(rec, req, "POST /v1/generations", errorsx.From(err))
		}
		return rec, release
	}

	first, releaseFirst := request()
	second, releaseSecond := request()
	third, _ := request()
	releaseFirst() // the first generation is done
	fourth, releaseFourth := request()
	defer releaseSecond()
	defer releaseFourth()

	fmt.Println(first.Header().Get("RateLimit-Policy"))
	for _, rec := range []*httptest.ResponseRecorder{first, second, third, fourth} {
		fmt.Printf("%d RateLimit: %s Retry-After: %q\n", rec.Code, rec.Header().Get("RateLimit"), rec.Header().Get("Retry-After"))
	}
	// Output:
	// "generations";q=2;qu="concurrent-requests"
	// 200 RateLimit: "generations";r=1 Retry-After: ""
	// 200 RateLimit: "generations";r=0 Retry-After: ""
	// 429 RateLimit: "generations";r=0;t=1 Retry-After: "1"
	// 200 RateLimit: "generations";r=0 Retry-After: ""
}
