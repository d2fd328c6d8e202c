package middleware

import (
	"errors"
	"fmt"
	"strings"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/principal"
	"github.com/labstack/echo/v4"
)

// ScopeConfig configures [Scopes]: which scopes a route needs. The zero
// value requires only that a principal is present.
type ScopeConfig struct {
	// Skipper skips the check when it returns true. Nil checks every
	// request.
	Skipper func(c echo.Context) bool

	// All lists scopes the principal must all hold.
	All []string

	// Any lists scopes of which the principal must hold at least one, in
	// addition to All. Empty means no such requirement.
	Any []string
}

// ErrNoPrincipal is the cause of the 401 a scope check returns when no
// principal is in the context: the auth middleware was not installed before
// it, or skipped this request. Scope checks fail closed.
var ErrNoPrincipal = errors.New("apiguard: scope check without a principal; install Auth before it")

// Scopes returns a middleware that lets a request through only when its
// [principal.Principal] (see [PrincipalFrom]) holds every scope of cfg.All
// and at least one of cfg.Any. Otherwise it returns 403 insufficient_scope whose
// message names what is missing:
//
//	This API key lacks the required scope: generations:write
//	This API key lacks the required scopes: a, b
//	This API key needs one of the scopes: a, b
//
// Without a principal it returns 401 invalid_api_key with [ErrNoPrincipal]
// as the logged cause: a route never opens because auth is missing.
//
// Scopes returns an error when a scope is not an RFC 6749 scope token
// (empty, or with characters other than visible ASCII but '"' and '\'),
// since no key could ever hold it. The middleware is safe for concurrent use
// and does not allocate when the principal holds the scopes.
func Scopes(cfg ScopeConfig) (echo.MiddlewareFunc, error) {
	for _, list := range [][]string{cfg.All, cfg.Any} {
		for _, s := range list {
			if !validScope(s) {
				return nil, fmt.Errorf("apiguard: invalid scope %q", s)
			}
		}
	}
	sc := &scopeCheck{
		skipper:  cfg.Skipper,
		all:      dedupe(cfg.All),
		any:      dedupe(cfg.Any),
		noPrinc:  errorsx.InvalidAPIKey().WithCause(ErrNoPrincipal),
		missing1: make(map[string]error),
	}
	if len(sc.any) > 0 {
		sc.missingAny = errorsx.InsufficientScope().
			WithMessage("This API key needs one of the scopes: " + strings.Join(sc.any, ", "))
	}
	for _, s := range sc.all {
		sc.missing1[s] = insufficientScope([]string{s})
	}
	return sc.middleware, nil
}

// RequireScopes returns a middleware that requires the principal to hold
// every one of scopes (all-of): [Scopes] with All set. With no scopes it
// requires only that a principal is present. Like [Scopes], it returns an
// error for an invalid scope, at construction, never at request time:
//
//	e.POST("/v1/generations", create, middleware.Must(middleware.RequireScopes("generations:write")))
func RequireScopes(scopes ...string) (echo.MiddlewareFunc, error) {
	return Scopes(ScopeConfig{All: scopes})
}

// RequireAnyScope returns a middleware that requires the principal to hold
// at least one of scopes (any-of): [Scopes] with Any set. With no scopes it
// requires only a principal. It returns an error for an invalid scope.
func RequireAnyScope(scopes ...string) (echo.MiddlewareFunc, error) {
	return Scopes(ScopeConfig{Any: scopes})
}

type scopeCheck struct {
	skipper    func(echo.Context) bool
	all, any   []string
	noPrinc    error
	missing1   map[string]error // one missing scope → its prebuilt 403
	missingAny error
}

func (sc *scopeCheck) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := unmatched(c); err != nil {
			return err
		}
		if sc.skipper != nil && sc.skipper(c) {
			return next(c)
		}
		p, ok := PrincipalFrom(c)
		if !ok {
			return sc.noPrinc
		}
		if err := sc.check(p); err != nil {
			return err
		}
		return next(c)
	}
}

func (sc *scopeCheck) check(p *principal.Principal) error {
	n, last := 0, ""
	for _, s := range sc.all {
		if !p.HasScope(s) {
			n, last = n+1, s
		}
	}
	switch {
	case n == 1:
		return sc.missing1[last] // prebuilt: the common denial allocates nothing
	case n > 1:
		missing := make([]string, 0, n)
		for _, s := range sc.all {
			if !p.HasScope(s) {
				missing = append(missing, s)
			}
		}
		return insufficientScope(missing)
	}
	if len(sc.any) == 0 {
		return nil
	}
	for _, s := range sc.any {
		if p.HasScope(s) {
			return nil
		}
	}
	return sc.missingAny
}

func insufficientScope(missing []string) error {
	if len(missing) == 1 {
		return errorsx.InsufficientScope().WithMessage("This API key lacks the required scope: " + missing[0])
	}
	return errorsx.InsufficientScope().WithMessage("This API key lacks the required scopes: " + strings.Join(missing, ", "))
}

// dedupe returns scopes without repeats, first occurrence kept.
func dedupe(scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		dup := false
		for _, o := range out {
			if o == s {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, s)
		}
	}
	return out
}
