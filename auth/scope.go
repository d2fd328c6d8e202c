package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/instrument"
	"github.com/clipia/apiguard/principal"
	"github.com/clipia/apiguard/telemetry"
)

// ScopeConfig configures [NewScopes]: which scopes a route needs. The zero
// value requires only that a principal is present.
type ScopeConfig struct {
	// All lists scopes the principal must all hold.
	All []string

	// Any lists scopes of which the principal must hold at least one, in
	// addition to All. Empty means no such requirement.
	Any []string

	// Skip, when it returns true, skips the check ([Scopes.CheckRequest]
	// lets the request through). Nil checks every request.
	Skip func(r *http.Request) bool

	// Telemetry selects the OpenTelemetry providers. A check that refuses
	// is counted in apiguard.auth.requests with apiguard.auth.outcome
	// insufficient_scope (or invalid_key when no principal is present) and
	// set on the request's span when it is recording; a check that passes
	// is not counted again (the authentication counted the request ok).
	// The zero value uses the global providers, no-ops until the
	// application installs an SDK; see docs/observability.md.
	Telemetry telemetry.Config
}

// ErrNoPrincipal is the cause of the 401 a scope check returns when no
// principal is in the context: the auth middleware was not installed before
// it, or skipped this request. Scope checks fail closed.
var ErrNoPrincipal = errors.New("apiguard: scope check without a principal; install Auth before it")

// Scopes is a scope check: which scopes the caller of a route must hold.
// Build one with [NewScopes], [RequireScopes] or [RequireAnyScope]; it is
// immutable and safe for concurrent use.
type Scopes struct {
	skip       func(*http.Request) bool
	all, any   []string
	noPrinc    error
	missing1   map[string]error // one missing scope → its prebuilt 403
	missingAny error
	obs        observer
}

// NewScopes returns the check of cfg. It returns an error when a scope is
// not an RFC 6749 scope token (empty, or with characters other than visible
// ASCII but '"' and '\'), since no key could ever hold it. Repeated scopes
// count once.
func NewScopes(cfg ScopeConfig) (*Scopes, error) {
	for _, list := range [][]string{cfg.All, cfg.Any} {
		for _, s := range list {
			if !validScope(s) {
				return nil, fmt.Errorf("apiguard: invalid scope %q", s)
			}
		}
	}
	sc := &Scopes{
		skip:     cfg.Skip,
		all:      dedupe(cfg.All),
		any:      dedupe(cfg.Any),
		noPrinc:  errorsx.InvalidAPIKey().WithCause(ErrNoPrincipal),
		missing1: make(map[string]error),
		obs:      newObserver(instrument.New(cfg.Telemetry)),
	}
	if len(sc.any) > 0 {
		sc.missingAny = errorsx.InsufficientScope().
			WithMessage("This API key needs one of the scopes: " + strings.Join(sc.any, ", "))
	}
	for _, s := range sc.all {
		sc.missing1[s] = insufficientScope([]string{s})
	}
	return sc, nil
}

// RequireScopes returns a check that the principal holds every one of
// scopes (all-of): [NewScopes] with All set. With no scopes it requires only
// that a principal is present. It returns an error for an invalid scope.
func RequireScopes(scopes ...string) (*Scopes, error) {
	return NewScopes(ScopeConfig{All: scopes})
}

// RequireAnyScope returns a check that the principal holds at least one of
// scopes (any-of): [NewScopes] with Any set. With no scopes it requires only
// a principal. It returns an error for an invalid scope.
func RequireAnyScope(scopes ...string) (*Scopes, error) {
	return NewScopes(ScopeConfig{Any: scopes})
}

// Check returns nil when the principal in ctx ([principal.FromContext])
// holds every scope of All and at least one of Any. Otherwise it returns
// 403 insufficient_scope whose message names what is missing:
//
//	This API key lacks the required scope: generations:write
//	This API key lacks the required scopes: a, b
//	This API key needs one of the scopes: a, b
//
// Without a principal it returns 401 invalid_api_key with [ErrNoPrincipal]
// as the cause: a route never opens because auth is missing. Check ignores
// Skip (see [Scopes.CheckRequest]). It does not allocate when the principal
// holds the scopes, nor for a single missing all-of scope or a missing any-of.
func (sc *Scopes) Check(ctx context.Context) error {
	p, ok := principal.FromContext(ctx)
	if !ok {
		sc.obs.count(ctx, outcomeInvalidKey)
		return sc.noPrinc
	}
	err := sc.check(p)
	if err != nil {
		sc.obs.count(ctx, outcomeInsufficientScope)
	}
	return err
}

// CheckRequest is what a front door calls: nil when [ScopeConfig.Skip]
// reports true for r, else [Scopes.Check] of r's context.
func (sc *Scopes) CheckRequest(r *http.Request) error {
	if sc.skip != nil && sc.skip(r) {
		return nil
	}
	return sc.Check(r.Context())
}

func (sc *Scopes) check(p *principal.Principal) error {
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
