// Command quickstart is the README's program: every guard of apiguard on
// Echo v4, built once from the core and mounted by the middleware/echo4
// door. examples/echo5, examples/gin, examples/nethttp and examples/chi are
// the same program on the other front doors.
//
//	go run ./examples/quickstart
package main

import (
	"log"
	"net/http"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/middleware/echo4"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/labstack/echo/v4"
)

// GenerationRequest is the typed body of POST /v1/generations.
type GenerationRequest struct {
	Prompt   string `json:"prompt" validate:"required,max=4000"`
	Duration *int   `json:"duration" validate:"omitempty,min=1,max=60"` // a pointer: 0 is not "missing"
}

func newApp() *echo.Echo {
	keys := guard.Must(auth.NewMemoryKeyStore([]auth.KeyConfig{
		{Key: "sk_test_full", KeyID: "key_full", Tenant: "acme", Scopes: []string{"generations:write"}},
	}))

	// The guards, built once from the core: every front door mounts the same values.
	authn := guard.Must(auth.New(auth.Config{Store: keys}))
	limit := guard.Must(ratelimit.New(ratelimit.Config{
		Policies: []ratelimit.Policy{ratelimit.PerSecond("default", 10, 20)},
	}))
	write := guard.Must(auth.RequireScopes("generations:write"))
	idem := guard.Must(idempotency.New(idempotency.Config{}))
	body := guard.Must(bind.New[GenerationRequest](bind.Config{Strict: true}))

	e := echo.New()
	// The one renderer, then for every request: an id, panics as 500s, HEAD wherever GET is.
	echo4.Install(e, echo4.Config{Use: []guard.Guard{
		guard.RequestID(guard.RequestIDConfig{}),
		guard.Must(guard.Recover(guard.RecoverConfig{})),
	}})

	// Unknown paths under /v1 answer 404: no key needed, no token spent.
	v1 := e.Group("/v1", echo4.Use(authn, limit))
	v1.POST("/generations", func(c echo.Context) error {
		req := bind.Body[GenerationRequest](c.Request())
		if len(req.Prompt) > 100 {
			return errorsx.InsufficientCredits() // any catalogue error, rendered as the envelope
		}
		return c.JSON(http.StatusCreated, map[string]any{"id": "gen_1", "prompt": req.Prompt})
	}, echo4.Use(write, idem, body))
	return e
}

func main() {
	log.Fatal(newApp().Start(":8080"))
}
