// Package authtest is the behaviour table of apiguard's auth guards
// (auth.Authenticator, auth.Scopes from RequireScopes, RequireAnyScope and
// NewScopes), written once and run through every front door of apiguard
// (internal/doors): [NewApp] builds the app of one door from [Config] and
// [Routes], and [Run] runs [Cases] and the rejection checks on each door
// that is built:
//
//	func TestAuthDoors(t *testing.T) { authtest.Run(t) }
//
// Only tests import it.
package authtest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/principal"
)

// Keys returns the reference server's demo key table.
func Keys() []auth.KeyConfig {
	rw := []string{"models:read", "generations:read", "generations:write"}
	return []auth.KeyConfig{
		{Key: "sk_test_full", KeyID: "key_full", Tenant: "acme", Scopes: rw},
		{Key: "sk_test_other", KeyID: "key_other", Tenant: "globex", Scopes: rw},
		{Key: "sk_test_readonly", KeyID: "key_readonly", Tenant: "acme", Scopes: []string{"models:read", "generations:read"}},
		{Key: "sk_test_revoked", KeyID: "key_revoked", Tenant: "acme", Scopes: rw, Revoked: true},
	}
}

// DemoKeys returns the reference server's whole demo key table: [Keys]
// and the tenant without credits.
func DemoKeys() []auth.KeyConfig {
	rw := []string{"models:read", "generations:read", "generations:write"}
	return append(Keys(), auth.KeyConfig{Key: "sk_test_nocredits", KeyID: "key_nocredits", Tenant: "initech", Scopes: rw})
}

// KeyDown is the key whose lookup fails as if the store were down.
const KeyDown = "sk_test_down"

// ErrDown is the store error of [KeyDown].
var ErrDown = errors.New("dial tcp 10.0.0.7:5432: connection refused")

// Config is the auth configuration of the table: the demo keys in a
// MemoryKeyStore behind a store that fails for [KeyDown], X-API-Key
// accepted besides Authorization, and requests with "X-Skip: 1" skipped.
func Config() auth.Config {
	mem, err := auth.NewMemoryKeyStore(Keys())
	if err != nil {
		panic(err)
	}
	return auth.Config{
		Store: auth.KeyStoreFunc(func(ctx context.Context, key string) (*principal.Principal, error) {
			if key == KeyDown {
				return nil, ErrDown
			}
			return mem.Lookup(ctx, key)
		}),
		APIKeyHeader: auth.HeaderAPIKey,
		Skip:         func(r *http.Request) bool { return r.Header.Get("X-Skip") == "1" },
	}
}

// Guard names the scope guard of a route, as each front door spells it.
type Guard int

// The scope guards of [Route].
const (
	None            Guard = iota // no scope check
	RequireScopes                // RequireScopes(Route.Scopes...)
	RequireAnyScope              // RequireAnyScope(Route.Scopes...)
	Scopes                       // Scopes(Route.Config)
)

// Route is one route of the app under test. Every route is behind
// Auth([Config]()) and then its scope guard; its handler answers 200 with
// [Body] of the request's principal.
type Route struct {
	Method, Path string
	Guard        Guard
	Scopes       []string
	Config       auth.ScopeConfig
}

// Routes are the routes the app under test serves.
var Routes = []Route{
	{Method: http.MethodGet, Path: "/v1/models", Guard: RequireScopes, Scopes: []string{"models:read"}},
	{Method: http.MethodPost, Path: "/v1/generations", Guard: RequireScopes, Scopes: []string{"generations:write"}},
	{Method: http.MethodGet, Path: "/v1/admin", Guard: RequireScopes, Scopes: []string{"generations:write", "admin", "billing"}},
	{Method: http.MethodGet, Path: "/v1/any", Guard: RequireAnyScope, Scopes: []string{"admin", "generations:read"}},
	{Method: http.MethodGet, Path: "/v1/anyadmin", Guard: RequireAnyScope, Scopes: []string{"admin", "root"}},
	{Method: http.MethodGet, Path: "/v1/both", Guard: Scopes,
		Config: auth.ScopeConfig{All: []string{"models:read"}, Any: []string{"admin", "generations:write"}}},
	{Method: http.MethodGet, Path: "/v1/skipscope", Guard: Scopes,
		Config: auth.ScopeConfig{All: []string{"admin"}, Skip: func(r *http.Request) bool { return r.Header.Get("X-Skip-Scope") == "1" }}},
	{Method: http.MethodGet, Path: "/healthz", Guard: None},
}

// Body is what a route's handler answers: "<key id> <tenant>" of p, or
// "anonymous" without a principal.
func Body(p *principal.Principal, ok bool) string {
	if !ok {
		return "anonymous"
	}
	return p.KeyID + " " + p.Tenant
}

// Challenges of the default realm.
const (
	challenge      = `Bearer realm="api"`
	challengeToken = `Bearer realm="api", error="invalid_token"`
	msg401         = "The API key is missing, invalid or revoked."
)

// Case is one request of the table and what every front door must answer.
type Case struct {
	Name     string
	Method   string // default GET
	Path     string // default /v1/models
	Header   [][2]string
	Code     int
	Body     string // for 200
	ErrCode  string // the envelope's code, for errors
	Message  string // the envelope's message; "" means the 401 message for 401s
	WWW      string // WWW-Authenticate, "" when absent
	Retry    string // X-Should-Retry for errors
	NoHeader []string
}

func bearer(v string) [2]string { return [2]string{"Authorization", v} }
func apiKey(v string) [2]string { return [2]string{"X-API-Key", v} }

// Cases is the table.
var Cases = []Case{
	{Name: "valid bearer", Header: [][2]string{bearer("Bearer sk_test_full")}, Code: 200, Body: "key_full acme"},
	{Name: "scheme any case, several spaces", Header: [][2]string{bearer("bEaReR   sk_test_other")}, Code: 200, Body: "key_other globex"},
	{Name: "no key", Code: 401, ErrCode: "invalid_api_key", WWW: challenge},
	{Name: "bad key", Header: [][2]string{bearer("Bearer sk_test_nope")}, Code: 401, ErrCode: "invalid_api_key", WWW: challengeToken},
	{Name: "malformed scheme", Header: [][2]string{bearer("Basic c2tfdGVzdF9mdWxsOg==")}, Code: 401, ErrCode: "invalid_api_key", WWW: challengeToken},
	{Name: "malformed characters", Header: [][2]string{bearer("Bearer sk_test\x01full")}, Code: 401, ErrCode: "invalid_api_key", WWW: challengeToken},
	{Name: "empty key", Header: [][2]string{bearer("Bearer ")}, Code: 401, ErrCode: "invalid_api_key", WWW: challengeToken},
	{Name: "too long", Header: [][2]string{bearer("Bearer sk_" + strings.Repeat("a", auth.DefaultMaxKeyLength))}, Code: 401, ErrCode: "invalid_api_key", WWW: challengeToken},
	{Name: "authorization twice", Header: [][2]string{bearer("Bearer sk_test_full"), bearer("Bearer sk_test_full")}, Code: 401, ErrCode: "invalid_api_key", WWW: challengeToken},
	{Name: "x-api-key", Header: [][2]string{apiKey("sk_test_readonly")}, Code: 200, Body: "key_readonly acme"},
	{Name: "both headers agreeing", Header: [][2]string{apiKey("sk_test_full"), bearer("Bearer sk_test_full")}, Code: 200, Body: "key_full acme"},
	{Name: "both headers disagreeing", Header: [][2]string{apiKey("sk_test_full"), bearer("Bearer sk_test_other")}, Code: 401, ErrCode: "invalid_api_key", WWW: challengeToken},
	{Name: "x-api-key unknown", Header: [][2]string{apiKey("sk_test_nope")}, Code: 401, ErrCode: "invalid_api_key", WWW: challengeToken},
	{Name: "store down", Header: [][2]string{bearer("Bearer " + KeyDown)}, Code: 503, ErrCode: "service_unavailable", Retry: "true", NoHeader: []string{"WWW-Authenticate"}},
	{Name: "revoked", Header: [][2]string{bearer("Bearer sk_test_revoked")}, Code: 401, ErrCode: "invalid_api_key", WWW: challengeToken},
	{Name: "revoked on a write route: 401 before 403", Method: http.MethodPost, Path: "/v1/generations",
		Header: [][2]string{bearer("Bearer sk_test_revoked")}, Code: 401, ErrCode: "invalid_api_key", WWW: challengeToken},
	{Name: "scopes all held", Method: http.MethodPost, Path: "/v1/generations", Header: [][2]string{bearer("Bearer sk_test_full")}, Code: 200, Body: "key_full acme"},
	{Name: "scopes all, one missing", Method: http.MethodPost, Path: "/v1/generations", Header: [][2]string{bearer("Bearer sk_test_readonly")},
		Code: 403, ErrCode: "insufficient_scope", Message: "This API key lacks the required scope: generations:write", NoHeader: []string{"WWW-Authenticate"}},
	{Name: "scopes all, three missing", Path: "/v1/admin", Header: [][2]string{bearer("Bearer sk_test_readonly")},
		Code: 403, ErrCode: "insufficient_scope", Message: "This API key lacks the required scopes: generations:write, admin, billing"},
	{Name: "scopes any held", Path: "/v1/any", Header: [][2]string{bearer("Bearer sk_test_readonly")}, Code: 200, Body: "key_readonly acme"},
	{Name: "scopes any, none held", Path: "/v1/anyadmin", Header: [][2]string{bearer("Bearer sk_test_full")},
		Code: 403, ErrCode: "insufficient_scope", Message: "This API key needs one of the scopes: admin, root"},
	{Name: "scopes config all and any", Path: "/v1/both", Header: [][2]string{bearer("Bearer sk_test_full")}, Code: 200, Body: "key_full acme"},
	{Name: "scopes config, any unmet", Path: "/v1/both", Header: [][2]string{bearer("Bearer sk_test_readonly")},
		Code: 403, ErrCode: "insufficient_scope", Message: "This API key needs one of the scopes: admin, generations:write"},
	{Name: "scope check skipped", Path: "/v1/skipscope", Header: [][2]string{bearer("Bearer sk_test_readonly"), {"X-Skip-Scope", "1"}}, Code: 200, Body: "key_readonly acme"},
	{Name: "scope check not skipped", Path: "/v1/skipscope", Header: [][2]string{bearer("Bearer sk_test_readonly")},
		Code: 403, ErrCode: "insufficient_scope", Message: "This API key lacks the required scope: admin"},
	{Name: "no principal (auth skipped) fails closed", Header: [][2]string{{"X-Skip", "1"}}, Code: 401, ErrCode: "invalid_api_key", WWW: challenge},
	{Name: "no principal with a key sent", Header: [][2]string{{"X-Skip", "1"}, bearer("Bearer sk_test_full")}, Code: 401, ErrCode: "invalid_api_key", WWW: challengeToken},
	{Name: "auth skipped, no scope check", Path: "/healthz", Header: [][2]string{{"X-Skip", "1"}, bearer("Bearer sk_test_nope")}, Code: 200, Body: "anonymous"},
	{Name: "no scope check, key required", Path: "/healthz", Code: 401, ErrCode: "invalid_api_key", WWW: challenge},
	{Name: "no scope check, principal set", Path: "/healthz", Header: [][2]string{apiKey("sk_test_other")}, Code: 200, Body: "key_other globex"},
}

// runCases sends every case of [Cases] to h, the app of one front door,
// and checks status, body or envelope, and headers; calls counts the
// handler's runs, which an error answer must not add to.
func runCases(t *testing.T, h http.Handler, calls *atomic.Int64) {
	t.Helper()
	for _, tc := range Cases {
		t.Run(tc.Name, func(t *testing.T) {
			method, path := tc.Method, tc.Path
			if method == "" {
				method = http.MethodGet
			}
			if path == "" {
				path = "/v1/models"
			}
			req := httptest.NewRequest(method, path, nil)
			for _, kv := range tc.Header {
				req.Header.Add(kv[0], kv[1])
			}
			rec := httptest.NewRecorder()
			before := calls.Load()
			h.ServeHTTP(rec, req)
			if ran := calls.Load() - before; ran != map[bool]int64{true: 1, false: 0}[tc.Code == http.StatusOK] {
				t.Errorf("the handler ran %d times for a %d", ran, rec.Code)
			}
			if rec.Code != tc.Code {
				t.Fatalf("got status %d, want %d (body %s)", rec.Code, tc.Code, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tc.WWW {
				t.Errorf("got WWW-Authenticate %q, want %q", got, tc.WWW)
			}
			for _, k := range tc.NoHeader {
				if v, ok := rec.Header()[k]; ok {
					t.Errorf("got header %s: %q, want none", k, v)
				}
			}
			if tc.Code == http.StatusOK {
				if got := rec.Body.String(); got != tc.Body {
					t.Errorf("got body %q, want %q", got, tc.Body)
				}
				return
			}
			var env struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
				t.Fatalf("body %q is not the envelope: %v", rec.Body, err)
			}
			want := tc.Message
			if want == "" && tc.Code == http.StatusUnauthorized {
				want = msg401
			}
			if env.Error.Code != tc.ErrCode || (want != "" && env.Error.Message != want) {
				t.Errorf("got %s %q, want %s %q", env.Error.Code, env.Error.Message, tc.ErrCode, want)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("got Content-Type %q, want application/json", ct)
			}
			retry := tc.Retry
			if retry == "" {
				retry = "false"
			}
			if got := rec.Header().Get("X-Should-Retry"); got != retry {
				t.Errorf("got X-Should-Retry %q, want %q", got, retry)
			}
			if strings.Contains(rec.Body.String(), "10.0.0.7") {
				t.Errorf("the store error leaked to the client: %s", rec.Body)
			}
		})
	}
}
