// Command gin is the README's program on gin: the same guards as
// examples/quickstart (Echo v4), built once from the core and mounted by
// the middleware/gin1 door. gin1.Install returns the handler to serve: it
// runs the request-level guards and answers odd paths 404 (gin's own
// trailing-slash and fixed-path redirects are off).
//
//	go run ./examples/gin
package main

import (
	"log"
	"net/http"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/middleware/gin1"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/gin-gonic/gin"
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

	gin.SetMode(gin.ReleaseMode)
	engine := gin.New()
	app := gin1.Install(engine, gin1.Config{Use: []guard.Guard{
		guard.RequestID(guard.RequestIDConfig{}),
		guard.Must(guard.Recover(guard.RecoverConfig{})),
	}})

	v1 := engine.Group("/v1", gin1.Use(authn, limit))
	v1.POST("/generations", gin1.Use(write, idem, body), gin1.Handle(func(c *gin.Context) error {
		req := bind.Body[GenerationRequest](c.Request)
		if len(req.Prompt) > 100 {
			return errorsx.InsufficientCredits()
		}
		c.JSON(http.StatusCreated, gin.H{"id": "gen_1", "prompt": req.Prompt})
		return nil
	}))
	return app
}

func main() {
	log.Fatal(http.ListenAndServe(":8080", newApp()))
}
