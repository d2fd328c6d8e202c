package auth

import (
	"net/http"
	"slices"
	"strings"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/internal/reqctx"
	"github.com/clipia/apiguard/openapi"
	"github.com/clipia/apiguard/principal"
)

// Serve is the guard of the Authenticator (a [guard.Guard]): it
// authenticates r ([Authenticator.Authenticate]) and runs the rest of the
// chain with a request whose context carries the caller
// ([principal.NewContext]), where scopes, rate limits, idempotency and
// handlers find it. A rejected key is returned as 401 invalid_api_key, a
// store failure as 503; the door renders them with the challenge
// `WWW-Authenticate: Bearer realm="api"`. A request that Config.Skip skips
// goes on without a principal.
func (a *Authenticator) Serve(w http.ResponseWriter, r *http.Request, c guard.Call) error {
	p, err := a.Authenticate(r)
	if err != nil {
		return err
	}
	if p != nil {
		r = reqctx.With(r, principal.ContextKey(), p)
	}
	return c.Next(w, r)
}

// Serve is the guard of the scope check (a [guard.Guard]): the rest of the
// chain runs only when the caller in r's context holds the scopes
// ([Scopes.Check]); else it returns 403 insufficient_scope naming what is
// missing, or, without a principal, 401 invalid_api_key caused by
// [ErrNoPrincipal]. A request that ScopeConfig.Skip skips goes on
// unchecked. It does not allocate when the caller holds the scopes.
func (sc *Scopes) Serve(w http.ResponseWriter, r *http.Request, c guard.Call) error {
	if err := sc.CheckRequest(r); err != nil {
		return err
	}
	return c.Next(w, r)
}

// Describe adds to op what the Authenticator answers: the bearer scheme
// (and the API-key header scheme when Config.APIKeyHeader is set) as
// alternatives, 401 invalid_api_key with its WWW-Authenticate challenge,
// and 503 service_unavailable when the key store can fail (any store but a
// [MemoryKeyStore]).
func (a *Authenticator) Describe(op *openapi.Operation) {
	op.Secure(openapi.SecurityScheme{
		Name: "bearerAuth", Type: "http", Scheme: "bearer",
		Description: "The API key as a bearer token: Authorization: Bearer <key>.",
	})
	if name := a.apiKeyHeader; name != "" {
		if strings.EqualFold(name, HeaderAPIKey) {
			name = HeaderAPIKey // as people write it, not canonical ("X-Api-Key")
		}
		op.Secure(openapi.SecurityScheme{
			Name: "apiKeyHeader", Type: "apiKey", Header: name,
			Description: "The bare API key in the " + name + " header. A request sending both headers must send the same key.",
		})
	}
	op.Errors(errorsx.CodeInvalidAPIKey)
	if _, memory := a.store.(*MemoryKeyStore); !memory {
		op.Errors(errorsx.CodeServiceUnavailable)
	}
}

// Describe adds to op the scopes a caller must hold (in the description
// and as the x-apiguard-scopes extension), 403 insufficient_scope, and 401
// invalid_api_key, the answer when no caller is known.
func (sc *Scopes) Describe(op *openapi.Operation) {
	var sentence string
	switch {
	case len(sc.all) > 0 && len(sc.any) > 0:
		sentence = "Requires the scopes " + strings.Join(sc.all, ", ") + " and one of " + strings.Join(sc.any, ", ") + "."
	case len(sc.all) == 1:
		sentence = "Requires the scope " + sc.all[0] + "."
	case len(sc.all) > 1:
		sentence = "Requires the scopes " + strings.Join(sc.all, ", ") + "."
	case len(sc.any) > 0:
		sentence = "Requires one of the scopes " + strings.Join(sc.any, ", ") + "."
	}
	if sentence != "" {
		op.Note(sentence)
		ext := map[string][]string{}
		if len(sc.all) > 0 {
			ext["all"] = slices.Clone(sc.all)
		}
		if len(sc.any) > 0 {
			ext["any"] = slices.Clone(sc.any)
		}
		op.Extension("x-apiguard-scopes", ext)
	}
	op.Errors(errorsx.CodeInvalidAPIKey, errorsx.CodeInsufficientScope)
}
