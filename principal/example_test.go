package principal_test

import (
	"context"
	"fmt"

	"github.com/clipia/apiguard/principal"
)

// An authentication step stores the caller in the request's context; a
// handler or a guard further down reads it back.
func Example() {
	authenticate := func(ctx context.Context, key string) context.Context {
		if key != "sk_test_full" {
			return ctx
		}
		return principal.NewContext(ctx, &principal.Principal{
			KeyID:  "key_full",
			Tenant: "acme",
			Scopes: []string{"models:read"},
		})
	}
	handle := func(ctx context.Context) {
		p, ok := principal.FromContext(ctx)
		if !ok {
			fmt.Println("anonymous")
			return
		}
		fmt.Println(p.KeyID, p.Tenant, p.HasScope("models:read"), p.HasScope("models:write"))
	}

	handle(authenticate(context.Background(), "sk_test_full"))
	handle(authenticate(context.Background(), "sk_test_nope"))
	// Output:
	// key_full acme true false
	// anonymous
}
