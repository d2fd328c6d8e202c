// Command quickstart is the README's program: an Echo v4 API with every
// apiguard guard wired on a group, as most Echo apps wire middlewares. The
// README shows this file verbatim, and a test builds and exercises it.
//
//	go run ./examples/quickstart
//	curl -i -H 'Authorization: Bearer sk_test_full' -H 'Content-Type: application/json' \
//	  -d '{"prompt":"a cat"}' localhost:8080/v1/generations
package main

import (
	"log"
	"net/http"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/middleware"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/labstack/echo/v4"
)

// GenerationRequest is the typed body of POST /v1/generations.
type GenerationRequest struct {
	Prompt   string `json:"prompt" validate:"required,max=4000"`
	Duration *int   `json:"duration" validate:"omitempty,min=1,max=60"` // a pointer: 0 is not "missing"
}

func newApp() *echo.Echo {
	keys := middleware.Must(auth.NewMemoryKeyStore([]auth.KeyConfig{
		{Key: "sk_test_full", KeyID: "key_full", Tenant: "acme", Scopes: []string{"generations:write"}},
	}))

	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{}) // the one renderer
	e.Pre(middleware.Must(middleware.Head(middleware.HeadConfig{})))      // HEAD wherever GET is
	e.Use(
		middleware.Must(middleware.RequestID(middleware.RequestIDConfig{})),
		middleware.Must(middleware.Recover(middleware.RecoverConfig{})),
	)

	authn := middleware.Must(middleware.Auth(auth.Config{Store: keys}))
	limit := middleware.Must(middleware.RateLimit(ratelimit.Config{
		Policies: []ratelimit.Policy{ratelimit.PerSecond("default", 10, 20)},
	}))
	idem := middleware.Must(middleware.Idempotency(idempotency.Config{}))
	body := middleware.Must(middleware.Bind[GenerationRequest](bind.Config{Strict: true}))
	write := middleware.Must(middleware.RequireScopes("generations:write"))

	// Unknown paths under /v1 answer 404: no key needed, no token spent.
	v1 := e.Group("/v1", authn, limit)
	v1.POST("/generations", func(c echo.Context) error {
		req := middleware.Body[GenerationRequest](c)
		if len(req.Prompt) > 100 {
			return errorsx.InsufficientCredits() // any catalogue error, rendered as the envelope
		}
		return c.JSON(http.StatusCreated, map[string]any{"id": "gen_1", "prompt": req.Prompt})
	}, write, idem, body)
	return e
}

func main() {
	log.Fatal(newApp().Start(":8080"))
}
