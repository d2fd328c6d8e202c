// Command nethttp is the README's program on net/http's ServeMux: the same
// guards as examples/quickstart (Echo v4), built once from the core and
// mounted by the middleware/nethttp door. It compiles no web framework at
// all (internal/depcheck checks it with go list -deps).
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
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/middleware/nethttp"
	"github.com/clipia/apiguard/ratelimit"
)

// GenerationRequest is the typed body of POST /v1/generations.
type GenerationRequest struct {
	Prompt   string `json:"prompt" validate:"required,max=4000"`
	Duration *int   `json:"duration" validate:"omitempty,min=1,max=60"`
}

func newApp() http.Handler {
	keys := guard.Must(auth.NewMemoryKeyStore([]auth.KeyConfig{
		{Key: "sk_test_full", KeyID: "key_full", Tenant: "acme", Scopes: []string{"generations:write"}},
	}))

	authn := guard.Must(auth.New(auth.Config{Store: keys}))
	limit := guard.Must(ratelimit.New(ratelimit.Config{
		Policies: []ratelimit.Policy{ratelimit.PerSecond("default", 10, 20)},
	}))
	write := guard.Must(auth.RequireScopes("generations:write"))
	idem := guard.Must(idempotency.New(idempotency.Config{}))
	body := guard.Must(bind.New[GenerationRequest](bind.Config{Strict: true}))

	create := nethttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req := bind.Body[GenerationRequest](r)
		if len(req.Prompt) > 100 {
			return errorsx.InsufficientCredits() // rendered as the envelope
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		return json.NewEncoder(w).Encode(map[string]any{"id": "gen_1", "prompt": req.Prompt})
	})

	mux := http.NewServeMux()
	mux.Handle("POST /v1/generations", nethttp.Use(authn, limit, write, idem, body)(create))
	// Install answers unknown routes, wrong methods and odd paths 404 before
	// any guard runs, gives every request its id, recovers panics and
	// renders every error once.
	return nethttp.Install(mux, nethttp.Config{Use: []guard.Guard{
		guard.RequestID(guard.RequestIDConfig{}),
		guard.Must(guard.Recover(guard.RecoverConfig{})),
	}})
}

func main() {
	log.Fatal(http.ListenAndServe(":8080", newApp()))
}
