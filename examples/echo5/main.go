// Command echo5 is the README's program on Echo v5: the same guards as
// examples/quickstart (Echo v4), built once from the core and mounted by
// the middleware/echo5 door. It compiles no Echo v4 (internal/depcheck
// checks it with go list -deps).
//
//	go run ./examples/echo5
package main

import (
	"log"
	"net/http"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/middleware/echo5"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/labstack/echo/v5"
)

// GenerationRequest is the typed body of POST /v1/generations.
type GenerationRequest struct {
	Prompt   string `json:"prompt" validate:"required,max=4000"`
	Duration *int   `json:"duration" validate:"omitempty,min=1,max=60"`
}

func newApp() *echo.Echo {
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

	e := echo.New()
	echo5.Install(e, echo5.Config{Use: []guard.Guard{
		guard.RequestID(guard.RequestIDConfig{}),
		guard.Must(guard.Recover(guard.RecoverConfig{})),
	}})

	v1 := e.Group("/v1", echo5.Use(authn, limit))
	v1.POST("/generations", func(c *echo.Context) error {
		req := bind.Body[GenerationRequest](c.Request())
		if len(req.Prompt) > 100 {
			return errorsx.InsufficientCredits()
		}
		return c.JSON(http.StatusCreated, map[string]any{"id": "gen_1", "prompt": req.Prompt})
	}, echo5.Use(write, idem, body))
	return e
}

func main() {
	log.Fatal(http.ListenAndServe(":8080", newApp()))
}
