package auth

import (
	"net/http"

	"github.com/clipia/apiguard/guard"
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
		r = r.WithContext(principal.NewContext(r.Context(), p))
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
