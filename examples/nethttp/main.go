// Command nethttp is the README's program on net/http's ServeMux: the same
// API as examples/quickstart (Echo v4), with the guards of package nethttp.
// It compiles no Echo at all (a test checks it with go list -deps).
//
//	go run ./examples/nethttp
package main

import (
	"encoding/json"
	"log"
	"net/http"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/nethttp"
	"github.com/clipia/apiguard/ratelimit"
)

// GenerationRequest is the typed body of POST /v1/generations.
type GenerationRequest struct {
	Prompt   string `json:"prompt" validate:"required,max=4000"`
	Duration *int   `json:"duration" validate:"omitempty,min=1,max=60"`
}

func newApp() http.Handler {
	keys := nethttp.Must(auth.NewMemoryKeyStore([]auth.KeyConfig{
		{Key: "sk_test_full", KeyID: "key_full", Tenant: "acme", Scopes: []string{"generations:write"}},
	}))
	authn := nethttp.Must(nethttp.Auth(auth.Config{Store: keys}))
	limit := nethttp.Must(nethttp.RateLimit(ratelimit.Config{
		Policies: []ratelimit.Policy{ratelimit.PerSecond("default", 10, 20)},
	}))
	idem := nethttp.Must(nethttp.Idempotency(idempotency.Config{}))
	body := nethttp.Must(nethttp.Bind[GenerationRequest](bind.Config{Strict: true}))
	write := nethttp.Must(nethttp.RequireScopes("generations:write"))

	create := nethttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req := nethttp.Body[GenerationRequest](r)
		if len(req.Prompt) > 100 {
			return errorsx.InsufficientCredits() // rendered as the envelope
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		return json.NewEncoder(w).Encode(map[string]any{"id": "gen_1", "prompt": req.Prompt})
	})

	mux := http.NewServeMux()
	mux.Handle("POST /v1/generations", authn(limit(write(idem(body(create))))))
	// Handler answers unknown routes 404 before any guard runs, gives every
	// request its id, recovers panics and renders every error once.
	return nethttp.Must(nethttp.Handler(mux, nethttp.Config{}))
}

func main() {
	log.Fatal(http.ListenAndServe(":8080", newApp()))
}
