// Command echo5 is the README's program on Echo v5: the same API as
// examples/quickstart (Echo v4), with the guards of package echo5. It
// compiles no Echo v4 (a test checks it with go list -deps).
//
//	go run ./examples/echo5
package main

import (
	"log"
	"net/http"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/echo5"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/labstack/echo/v5"
)

// GenerationRequest is the typed body of POST /v1/generations.
type GenerationRequest struct {
	Prompt   string `json:"prompt" validate:"required,max=4000"`
	Duration *int   `json:"duration" validate:"omitempty,min=1,max=60"`
}

func newApp() *echo.Echo {
	keys := echo5.Must(auth.NewMemoryKeyStore([]auth.KeyConfig{
		{Key: "sk_test_full", KeyID: "key_full", Tenant: "acme", Scopes: []string{"generations:write"}},
	}))

	e := echo.New()
	e.HTTPErrorHandler = echo5.ErrorHandler(errorsx.HandlerConfig{}) // the one renderer
	e.Pre(echo5.Must(echo5.Head(echo5.HeadConfig{})))                // HEAD wherever GET is
	e.Use(
		echo5.Must(echo5.RequestID(echo5.RequestIDConfig{})),
		echo5.Must(echo5.Recover(echo5.RecoverConfig{})),
	)

	authn := echo5.Must(echo5.Auth(auth.Config{Store: keys}))
	limit := echo5.Must(echo5.RateLimit(ratelimit.Config{
		Policies: []ratelimit.Policy{ratelimit.PerSecond("default", 10, 20)},
	}))
	idem := echo5.Must(echo5.Idempotency(idempotency.Config{}))
	body := echo5.Must(echo5.Bind[GenerationRequest](bind.Config{Strict: true}))
	write := echo5.Must(echo5.RequireScopes("generations:write"))

	v1 := e.Group("/v1", authn, limit)
	v1.POST("/generations", func(c *echo.Context) error {
		req := echo5.Body[GenerationRequest](c)
		if len(req.Prompt) > 100 {
			return errorsx.InsufficientCredits()
		}
		return c.JSON(http.StatusCreated, map[string]any{"id": "gen_1", "prompt": req.Prompt})
	}, write, idem, body)
	return e
}

func main() {
	log.Fatal(http.ListenAndServe(":8080", newApp()))
}
