package openapi_test

import (
	"fmt"
	"log"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/openapi"
	"github.com/clipia/apiguard/ratelimit"
)

type order struct {
	Item     string `json:"item" validate:"required"`
	Quantity int    `json:"quantity" validate:"required,min=1,max=10"`
}

// The guards of each route describe themselves; the handler declares its
// success and the rows only it answers. Operations shows what the
// document will list; JSON writes it; Check compares it with the routes a
// door serves (here, as a ServeMux would have them).
func Example() {
	keys := guard.Must(auth.NewMemoryKeyStore([]auth.KeyConfig{{Key: "sk_test", KeyID: "k1", Scopes: []string{"orders:write"}}}))
	authn := guard.Must(auth.New(auth.Config{Store: keys}))
	limit := guard.Must(ratelimit.New(ratelimit.Config{Policies: []ratelimit.Policy{ratelimit.PerSecond("default", 5, 10)}}))
	write := guard.Must(auth.RequireScopes("orders:write"))
	idem := guard.Must(idempotency.New(idempotency.Config{}))
	body := guard.Must(bind.New[order](bind.Config{Strict: true}))
	rec := guard.Must(guard.Recover(guard.RecoverConfig{}))

	api := &openapi.API{
		Title:  "Shop",
		Guards: openapi.Guards([]guard.Guard{guard.RequestID(guard.RequestIDConfig{}), rec}),
		Routes: []openapi.Route{{
			Method: "POST", Path: "/v1/orders", ID: "createOrder", Summary: "Place an order",
			Guards:    openapi.Guards([]guard.Guard{authn, limit, write, idem, body}),
			Responses: []openapi.Response{openapi.JSON(201, "The order.", order{})},
			Errors:    []errorsx.Code{errorsx.CodeInsufficientCredits},
		}},
	}
	ops, err := api.Operations()
	if err != nil {
		log.Fatal(err)
	}
	for _, op := range ops {
		fmt.Println(op.Method, op.Path, op.Statuses())
	}
	if _, err := api.JSON(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(api.Check([]string{"POST /v1/orders"}))
	fmt.Println(api.Check([]string{"POST /v1/orders", "DELETE /v1/orders/{id}"}))
	// Output:
	// POST /v1/orders [201 400 401 402 403 409 429 500 503]
	// <nil>
	// openapi: DELETE /v1/orders/{id} is served but not documented
}
