package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/clipia/apiguard/internal/alloctest"
	"github.com/clipia/apiguard/internal/authtest"
	"github.com/clipia/apiguard/internal/logtest"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/principal"
)

// authDemoKeys is the reference server's table (examples/server/README.md).
func authDemoKeys() []auth.KeyConfig { return authtest.DemoKeys() }

// authLog collects the JSON log records of the app under test.
type authLog = logtest.Buffer

// must returns v, or fails the program: for test setup.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// authServer builds a plain net/http app with the renderer and routes of
// the reference server's shape, each behind a minimal front door written
// here: Authenticate, the principal into the context, the route's scope
// check, errors to errorsx.Renderer. Handlers answer 200 with
// "<key id> <tenant>".
func authServer(t testing.TB, cfg auth.Config, log *authLog) http.Handler {
	return authServerRealm(t, cfg, log, "")
}

func authServerRealm(t testing.TB, cfg auth.Config, log *authLog, realm string) http.Handler {
	t.Helper()
	if cfg.Store == nil {
		cfg.Store = must(auth.NewMemoryKeyStore(authDemoKeys()))
	}
	logger := slog.New(slog.DiscardHandler)
	if log != nil {
		logger = log.Logger()
	}
	a, err := auth.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	render := errorsx.NewRenderer(errorsx.HandlerConfig{Logger: logger, Realm: realm})
	guard := func(sc *auth.Scopes) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := a.Authenticate(r)
			if p != nil {
				r = r.WithContext(principal.NewContext(r.Context(), p))
			}
			if err == nil {
				err = sc.CheckRequest(r)
			}
			if err != nil {
				render.Write(w, r, r.Pattern, err)
				return
			}
			if p, ok := principal.FromContext(r.Context()); ok {
				_, _ = io.WriteString(w, p.KeyID+" "+p.Tenant)
				return
			}
			_, _ = io.WriteString(w, "anonymous")
		})
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/models", guard(must(auth.RequireScopes("models:read"))))
	mux.Handle("POST /v1/generations", guard(must(auth.RequireScopes("generations:write"))))
	mux.Handle("GET /v1/admin", guard(must(auth.RequireScopes("generations:write", "admin", "billing"))))
	mux.Handle("GET /v1/any", guard(must(auth.RequireAnyScope("admin", "generations:read"))))
	mux.Handle("GET /v1/anyadmin", guard(must(auth.RequireAnyScope("admin", "root"))))
	mux.Handle("GET /healthz", guard(must(auth.NewScopes(auth.ScopeConfig{Skip: func(*http.Request) bool { return true }}))))
	return mux
}

type authHeader struct{ name, value string }

func authDo(e http.Handler, method, path string, headers ...authHeader) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	for _, h := range headers {
		req.Header.Add(h.name, h.value)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func bearer(v string) authHeader { return authHeader{"Authorization", v} }

const (
	authChallenge      = `Bearer realm="api"`
	authChallengeToken = `Bearer realm="api", error="invalid_token"`
)

// authBody401 is the one 401 body every rejected key gets.
var authBody401 = string(errorsx.AppendEnvelope(nil, errorsx.InvalidAPIKey()))

func TestAuth(t *testing.T) {
	long := "sk_" + strings.Repeat("a", auth.DefaultMaxKeyLength)
	tests := []struct {
		name      string
		apiKeyHdr string // AuthConfig.APIKeyHeader
		method    string
		path      string
		headers   []authHeader
		wantCode  int
		wantBody  string // exact body; "" means the 401 body for 401s
		wantWWW   string
		wantWhy   string // logged reason of a rejection
		wantKeyID string // logged key id of a rejection
	}{
		{name: "valid bearer", headers: []authHeader{bearer("Bearer sk_test_full")},
			wantCode: 200, wantBody: "key_full acme"},
		{name: "scheme lower case", headers: []authHeader{bearer("bearer sk_test_other")},
			wantCode: 200, wantBody: "key_other globex"},
		{name: "scheme upper case and several spaces", headers: []authHeader{bearer("BEARER   sk_test_readonly")},
			wantCode: 200, wantBody: "key_readonly acme"},
		{name: "missing", wantCode: 401, wantWWW: authChallenge, wantWhy: "missing"},
		{name: "empty header", headers: []authHeader{bearer("")},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "empty"},
		{name: "scheme only", headers: []authHeader{bearer("Bearer")},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "empty"},
		{name: "scheme and spaces only", headers: []authHeader{bearer("Bearer   ")},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "empty"},
		{name: "basic scheme", headers: []authHeader{bearer("Basic c2tfdGVzdF9mdWxsOg==")},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "bad_scheme"},
		{name: "bare key without scheme", headers: []authHeader{bearer("sk_test_full")},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "bad_scheme"},
		{name: "no space after scheme", headers: []authHeader{bearer("Bearersk_test_full")},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "bad_scheme"},
		{name: "tab after scheme", headers: []authHeader{bearer("Bearer\tsk_test_full")},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "bad_scheme"},
		{name: "too long", headers: []authHeader{bearer("Bearer " + long)},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "too_long"},
		{name: "control character", headers: []authHeader{bearer("Bearer sk_test\x01full")},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "invalid_characters"},
		{name: "space inside key", headers: []authHeader{bearer("Bearer sk_test full")},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "invalid_characters"},
		{name: "non-ASCII", headers: []authHeader{bearer("Bearer sk_tést_full")},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "invalid_characters"},
		{name: "trailing space", headers: []authHeader{bearer("Bearer sk_test_full ")},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "invalid_characters"},
		{name: "unknown", headers: []authHeader{bearer("Bearer sk_test_nope")},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "unknown"},
		{name: "key prefix of a valid key", headers: []authHeader{bearer("Bearer sk_test_ful")},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "unknown"},
		{name: "revoked", headers: []authHeader{bearer("Bearer sk_test_revoked")},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "revoked", wantKeyID: "key_revoked"},
		{name: "two authorization headers", headers: []authHeader{bearer("Bearer sk_test_full"), bearer("Bearer sk_test_full")},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "multiple_headers"},
		{name: "x-api-key ignored when not enabled", headers: []authHeader{{"X-API-Key", "sk_test_full"}},
			wantCode: 401, wantWWW: authChallenge, wantWhy: "missing"},
		{name: "x-api-key enabled", apiKeyHdr: auth.HeaderAPIKey, headers: []authHeader{{"X-API-Key", "sk_test_full"}},
			wantCode: 200, wantBody: "key_full acme"},
		{name: "x-api-key enabled, name in other case", apiKeyHdr: "x-api-key", headers: []authHeader{{"X-Api-Key", "sk_test_full"}},
			wantCode: 200, wantBody: "key_full acme"},
		{name: "x-api-key and same bearer", apiKeyHdr: auth.HeaderAPIKey,
			headers:  []authHeader{{"X-API-Key", "sk_test_full"}, bearer("Bearer sk_test_full")},
			wantCode: 200, wantBody: "key_full acme"},
		{name: "x-api-key and other bearer", apiKeyHdr: auth.HeaderAPIKey,
			headers:  []authHeader{{"X-API-Key", "sk_test_full"}, bearer("Bearer sk_test_other")},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "conflicting_headers"},
		{name: "x-api-key unknown", apiKeyHdr: auth.HeaderAPIKey, headers: []authHeader{{"X-API-Key", "sk_test_nope"}},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "unknown"},
		{name: "x-api-key empty", apiKeyHdr: auth.HeaderAPIKey, headers: []authHeader{{"X-API-Key", ""}},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "empty"},
		{name: "x-api-key twice", apiKeyHdr: auth.HeaderAPIKey,
			headers:  []authHeader{{"X-API-Key", "sk_test_full"}, {"X-API-Key", "sk_test_full"}},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "multiple_headers"},
		{name: "x-api-key revoked", apiKeyHdr: auth.HeaderAPIKey, headers: []authHeader{{"X-API-Key", "sk_test_revoked"}},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "revoked", wantKeyID: "key_revoked"},
		{name: "scope held", method: http.MethodPost, path: "/v1/generations", headers: []authHeader{bearer("Bearer sk_test_full")},
			wantCode: 200, wantBody: "key_full acme"},
		{name: "scope missing", method: http.MethodPost, path: "/v1/generations", headers: []authHeader{bearer("Bearer sk_test_readonly")},
			wantCode: 403, wantBody: `{"error":{"type":"permission_error","code":"insufficient_scope","message":"This API key lacks the required scope: generations:write"}}`},
		{name: "two scopes missing", path: "/v1/admin", headers: []authHeader{bearer("Bearer sk_test_full")},
			wantCode: 403, wantBody: `{"error":{"type":"permission_error","code":"insufficient_scope","message":"This API key lacks the required scopes: admin, billing"}}`},
		{name: "three scopes missing", path: "/v1/admin", headers: []authHeader{bearer("Bearer sk_test_readonly")},
			wantCode: 403, wantBody: `{"error":{"type":"permission_error","code":"insufficient_scope","message":"This API key lacks the required scopes: generations:write, admin, billing"}}`},
		{name: "any-of held", path: "/v1/any", headers: []authHeader{bearer("Bearer sk_test_readonly")},
			wantCode: 200, wantBody: "key_readonly acme"},
		{name: "any-of missing", path: "/v1/anyadmin", headers: []authHeader{bearer("Bearer sk_test_full")},
			wantCode: 403, wantBody: `{"error":{"type":"permission_error","code":"insufficient_scope","message":"This API key needs one of the scopes: admin, root"}}`},
		{name: "401 before 403", method: http.MethodPost, path: "/v1/generations", headers: []authHeader{bearer("Bearer sk_test_revoked")},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "revoked", wantKeyID: "key_revoked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &authLog{}
			e := authServer(t, auth.Config{APIKeyHeader: tt.apiKeyHdr}, log)
			method, path := tt.method, tt.path
			if method == "" {
				method = http.MethodGet
			}
			if path == "" {
				path = "/v1/models"
			}
			rec := authDo(e, method, path, tt.headers...)

			if got := rec.Code; got != tt.wantCode {
				t.Fatalf("got status %d, want %d (body %s)", got, tt.wantCode, rec.Body)
			}
			wantBody := tt.wantBody
			if wantBody == "" && tt.wantCode == 401 {
				wantBody = authBody401
			}
			if got := rec.Body.String(); got != wantBody {
				t.Errorf("got body %s, want %s", got, wantBody)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.wantWWW {
				t.Errorf("got WWW-Authenticate %q, want %q", got, tt.wantWWW)
			}
			// One record per failed request, the renderer's, whose error
			// names why the key was rejected.
			failed := log.Records(t, "request failed")
			if tt.wantWhy == "" {
				if tt.wantCode == 401 && len(failed) != 1 {
					t.Errorf("got %d records, want 1 for a 401: %v", len(failed), failed)
				}
				return
			}
			if all := log.Records(t, ""); len(all) != 1 || len(failed) != 1 {
				t.Fatalf("got %d records (%d request failed), want 1; log:\n%s", len(all), len(failed), log)
			}
			r := failed[0]
			errText, _ := r["error"].(string)
			if !strings.Contains(errText, "API key rejected: "+tt.wantWhy) {
				t.Errorf("got logged error %q, want reason %q", errText, tt.wantWhy)
			}
			if got, want := r["request_id"], rec.Header().Get("X-Request-Id"); got != want || want == "" {
				t.Errorf("got logged request_id %v, want %q", got, want)
			}
			if tt.wantKeyID != "" && !strings.Contains(errText, "key id "+tt.wantKeyID) ||
				tt.wantKeyID == "" && strings.Contains(errText, "key id") {
				t.Errorf("got logged error %q, want key id %q", errText, tt.wantKeyID)
			}
		})
	}
}

// TestAuthRejectionsIndistinguishable sends the same request with a
// missing, malformed, unknown and revoked key: the status, body and headers
// must be byte-identical, but for WWW-Authenticate, which only says whether
// a key was sent at all.
func TestAuthRejectionsIndistinguishable(t *testing.T) {
	e := authServer(t, auth.Config{}, nil)
	cases := []struct {
		name    string
		headers []authHeader
		sent    bool
	}{
		{"unknown", []authHeader{bearer("Bearer sk_test_nope")}, true},
		{"revoked", []authHeader{bearer("Bearer sk_test_revoked")}, true},
		{"missing", nil, false},
		{"malformed scheme", []authHeader{bearer("Token sk_test_full")}, true},
		{"malformed characters", []authHeader{bearer("Bearer \x7fsk")}, true},
		{"too long", []authHeader{bearer("Bearer " + strings.Repeat("k", 1000))}, true},
	}
	type response struct {
		code   int
		header http.Header
		body   string
	}
	get := func(headers []authHeader) response {
		rec := authDo(e, http.MethodPost, "/v1/generations", append(headers, authHeader{"X-Request-Id", "req-same"})...)
		return response{rec.Code, rec.Header(), rec.Body.String()}
	}
	ref := get(cases[0].headers)
	if ref.code != 401 || ref.body != authBody401 {
		t.Fatalf("unknown key: got %d %s, want 401 %s", ref.code, ref.body, authBody401)
	}
	for _, c := range cases[1:] {
		t.Run(c.name, func(t *testing.T) {
			got := get(c.headers)
			if got.code != ref.code {
				t.Errorf("got status %d, want %d", got.code, ref.code)
			}
			if got.body != ref.body {
				t.Errorf("got body %q, want byte-identical %q", got.body, ref.body)
			}
			gh, rh := got.header.Clone(), ref.header.Clone()
			wantWWW := authChallengeToken
			if !c.sent {
				wantWWW = authChallenge
			}
			if g := gh.Get("WWW-Authenticate"); g != wantWWW {
				t.Errorf("got WWW-Authenticate %q, want %q", g, wantWWW)
			}
			gh.Del("WWW-Authenticate")
			rh.Del("WWW-Authenticate")
			if g, w := headerString(gh), headerString(rh); g != w {
				t.Errorf("got headers\n%s\nwant\n%s", g, w)
			}
		})
	}
}

func headerString(h http.Header) string {
	var b strings.Builder
	_ = h.Write(&b)
	return b.String()
}

// TestAuthNeverLogsKey drives every path (accepted, each rejection, store
// failure, scope denial) with Debug logging everywhere and looks for the
// secret in the log.
func TestAuthNeverLogsKey(t *testing.T) {
	const secret = "Zq81SECRETxv"
	keys := append(authDemoKeys(),
		auth.KeyConfig{Key: "sk_live_" + secret + "ok", KeyID: "key_live", Tenant: "t", Scopes: []string{"models:read"}},
		auth.KeyConfig{Key: "sk_live_" + secret + "rv", KeyID: "key_live_rv", Tenant: "t", Revoked: true},
	)
	mem := must(auth.NewMemoryKeyStore(keys))
	failing := "sk_live_" + secret + "db"
	store := auth.KeyStoreFunc(func(ctx context.Context, key string) (*principal.Principal, error) {
		if key == failing {
			return nil, errors.New("connection refused")
		}
		return mem.Lookup(ctx, key)
	})
	log := &authLog{}
	e := authServer(t, auth.Config{Store: store, APIKeyHeader: auth.HeaderAPIKey}, log)
	requests := []struct {
		path     string
		headers  []authHeader
		wantCode int
	}{
		{"/v1/models", []authHeader{bearer("Bearer sk_live_" + secret + "ok")}, 200},
		{"/v1/admin", []authHeader{bearer("Bearer sk_live_" + secret + "ok")}, 403},
		{"/v1/models", []authHeader{bearer("Bearer sk_live_" + secret + "rv")}, 401},
		{"/v1/models", []authHeader{bearer("Bearer sk_live_" + secret + "xx")}, 401},
		{"/v1/models", []authHeader{bearer("Bearer " + failing)}, 503},
		{"/v1/models", []authHeader{bearer("Basic " + secret)}, 401},
		{"/v1/models", []authHeader{bearer(secret)}, 401},
		{"/v1/models", []authHeader{bearer("Bearer " + secret + " " + secret)}, 401},
		{"/v1/models", []authHeader{bearer("Bearer " + secret + strings.Repeat("x", 300))}, 401},
		{"/v1/models", []authHeader{bearer("Bearer " + secret + "\x00")}, 401},
		{"/v1/models", []authHeader{bearer("Bearer " + secret), bearer("Bearer " + secret)}, 401},
		{"/v1/models", []authHeader{{"X-API-Key", secret + "a"}, bearer("Bearer " + secret + "b")}, 401},
		{"/v1/models", []authHeader{{"X-API-Key", "sk_live_" + secret + "rv"}}, 401},
	}
	for i, r := range requests {
		rec := authDo(e, http.MethodGet, r.path, r.headers...)
		if rec.Code != r.wantCode {
			t.Errorf("request %d: got status %d, want %d", i, rec.Code, r.wantCode)
		}
	}
	out := log.String()
	if n := len(log.Records(t, "request failed")); n != 12 {
		t.Errorf("got %d failed-request records, want 12 (10 rejections, a 403, a 503); the log is not being captured?", n)
	}
	if strings.Contains(out, secret) {
		t.Errorf("the log contains the key:\n%s", out)
	}
	if !strings.Contains(out, "connection refused") {
		t.Errorf("the store error is not in the log; want it as the 503's cause:\n%s", out)
	}
}

// TestAuthStoreFailure: a store error is 503 (never 401) and a store that
// returns nothing is 500.
func TestAuthStoreFailure(t *testing.T) {
	tests := []struct {
		name     string
		store    auth.KeyStoreFunc
		wantCode int
		wantErr  string
	}{
		{"store down", func(context.Context, string) (*principal.Principal, error) {
			return nil, errors.New("dial tcp 10.0.0.7:5432: connection refused")
		}, 503, "service_unavailable"},
		{"context cancelled", func(ctx context.Context, _ string) (*principal.Principal, error) {
			return nil, context.Canceled
		}, 503, "service_unavailable"},
		{"not found wrapped", func(context.Context, string) (*principal.Principal, error) {
			return nil, errors.Join(errors.New("row missing"), auth.ErrKeyNotFound)
		}, 401, "invalid_api_key"},
		{"revoked without principal", func(context.Context, string) (*principal.Principal, error) {
			return nil, auth.ErrKeyRevoked
		}, 401, "invalid_api_key"},
		{"nil principal, nil error", func(context.Context, string) (*principal.Principal, error) {
			return nil, nil
		}, 500, "internal_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := authServer(t, auth.Config{Store: tt.store}, nil)
			rec := authDo(e, http.MethodGet, "/v1/models", bearer("Bearer sk_test_full"))
			if rec.Code != tt.wantCode {
				t.Fatalf("got status %d, want %d", rec.Code, tt.wantCode)
			}
			var env struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if env.Error.Code != tt.wantErr {
				t.Errorf("got code %q, want %q", env.Error.Code, tt.wantErr)
			}
			if strings.Contains(rec.Body.String(), "10.0.0.7") {
				t.Errorf("the store error leaked to the client: %s", rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); (tt.wantCode == 401) != (got != "") {
				t.Errorf("got WWW-Authenticate %q on a %d", got, tt.wantCode)
			}
		})
	}
}

func TestAuthRealmAndSkip(t *testing.T) {
	e := authServerRealm(t, auth.Config{
		Skip: func(r *http.Request) bool { return r.Header.Get("X-Skip") == "1" },
	}, nil, "clipia")
	tests := []struct {
		name     string
		path     string
		headers  []authHeader
		wantCode int
		wantWWW  string
		wantBody string
	}{
		{"realm without key", "/v1/models", nil, 401, `Bearer realm="clipia"`, authBody401},
		{"realm with key", "/v1/models", []authHeader{bearer("Bearer x")}, 401, `Bearer realm="clipia", error="invalid_token"`, authBody401},
		{"skipped route has no principal", "/healthz", []authHeader{{"X-Skip", "1"}}, 200, "", "anonymous"},
		{"not skipped, key checked", "/healthz", []authHeader{bearer("Bearer sk_test_full")}, 200, "", "key_full acme"},
		{"skipped before a scope check fails closed", "/v1/models", []authHeader{{"X-Skip", "1"}, bearer("Bearer sk_test_full")}, 401, `Bearer realm="clipia", error="invalid_token"`, authBody401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := authDo(e, http.MethodGet, tt.path, tt.headers...)
			if rec.Code != tt.wantCode {
				t.Fatalf("got status %d, want %d", rec.Code, tt.wantCode)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.wantWWW {
				t.Errorf("got WWW-Authenticate %q, want %q", got, tt.wantWWW)
			}
			if got := rec.Body.String(); got != tt.wantBody {
				t.Errorf("got body %s, want %s", got, tt.wantBody)
			}
		})
	}
}

// TestAuthenticateSkip: a skipped request yields no principal and no error,
// and the store is never asked.
func TestAuthenticateSkip(t *testing.T) {
	asked := false
	a := must(auth.New(auth.Config{
		Store: auth.KeyStoreFunc(func(context.Context, string) (*principal.Principal, error) {
			asked = true
			return nil, auth.ErrKeyNotFound
		}),
		Skip: func(r *http.Request) bool { return r.URL.Path == "/healthz" },
	}))
	req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	req.Header.Set("Authorization", "Bearer sk_x")
	if p, err := a.Authenticate(req); p != nil || err != nil || asked {
		t.Errorf("skipped: got %v, %v, store asked %v; want nil, nil, false", p, err, asked)
	}
	req = httptest.NewRequest(http.MethodGet, "/v1/models", nil)
	req.Header.Set("Authorization", "Bearer sk_x")
	if p, err := a.Authenticate(req); p != nil || !errors.Is(err, auth.ErrRejected) || !asked {
		t.Errorf("not skipped: got %v, %v, store asked %v; want a rejection after a lookup", p, err, asked)
	}
}

func TestAuthConfigErrors(t *testing.T) {
	store := must(auth.NewMemoryKeyStore(authDemoKeys()))
	tests := []struct {
		name    string
		cfg     auth.Config
		wantErr string
	}{
		{"no store", auth.Config{}, "Store is nil"},
		{"negative max length", auth.Config{Store: store, MaxKeyLength: -1}, "MaxKeyLength"},
		{"bad header name", auth.Config{Store: store, APIKeyHeader: "X API Key"}, "APIKeyHeader"},
		{"authorization as api key header", auth.Config{Store: store, APIKeyHeader: "authorization"}, "Authorization"},
		{"valid", auth.Config{Store: store, APIKeyHeader: "X-API-Key", MaxKeyLength: 10}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := auth.New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil || a == nil {
					t.Fatalf("got %v, want an authenticator", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one mentioning %q", err, tt.wantErr)
			}
			if a != nil {
				t.Errorf("got an authenticator along with the error")
			}
		})
	}
}

func TestAuthMaxKeyLength(t *testing.T) {
	key := strings.Repeat("k", 300)
	store := must(auth.NewMemoryKeyStore([]auth.KeyConfig{{Key: key, KeyID: "long", Scopes: []string{"models:read"}}}))
	tests := []struct {
		name     string
		max      int
		wantCode int
	}{
		{"default rejects a 300-byte key", 0, 401},
		{"raised limit accepts it", 300, 200},
		{"one short", 299, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := authServer(t, auth.Config{Store: store, MaxKeyLength: tt.max}, nil)
			rec := authDo(e, http.MethodGet, "/v1/models", bearer("Bearer "+key))
			if rec.Code != tt.wantCode {
				t.Errorf("got status %d, want %d", rec.Code, tt.wantCode)
			}
		})
	}
}

// TestAuthenticateErrors: the error a front door hands on is an
// invalid_api_key that errors.Is ErrRejected (and ErrCredentialRejected when
// a key was sent), and its text names the reason but not the key; a store
// failure is a 503 wrapping the store's error.
func TestAuthenticateErrors(t *testing.T) {
	down := errors.New("dial tcp: connection refused")
	mem := must(auth.NewMemoryKeyStore(authDemoKeys()))
	a := must(auth.New(auth.Config{Store: auth.KeyStoreFunc(func(ctx context.Context, key string) (*principal.Principal, error) {
		if key == "sk_down" {
			return nil, down
		}
		return mem.Lookup(ctx, key)
	})}))
	tests := []struct {
		name       string
		authz      string // "" sends no header
		wantCode   errorsx.Code
		wantCause  error
		credential bool
		wantText   string
	}{
		{"revoked", "Bearer sk_test_revoked", errorsx.CodeInvalidAPIKey, auth.ErrRejected, true, "revoked (header Authorization) (key id key_revoked)"},
		{"unknown", "Bearer sk_test_nope", errorsx.CodeInvalidAPIKey, auth.ErrRejected, true, "unknown (header Authorization)"},
		{"malformed", "Basic abc", errorsx.CodeInvalidAPIKey, auth.ErrRejected, true, "bad_scheme"},
		{"missing", "", errorsx.CodeInvalidAPIKey, auth.ErrRejected, false, "missing"},
		{"store down", "Bearer sk_down", errorsx.CodeServiceUnavailable, down, false, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.authz != "" {
				req.Header.Set("Authorization", tt.authz)
			}
			p, err := a.Authenticate(req)
			if p != nil {
				t.Fatalf("got principal %v along with %v", p, err)
			}
			var ae *errorsx.Error
			if !errors.As(err, &ae) || ae.Code() != tt.wantCode {
				t.Fatalf("got %v, want an *errorsx.Error with code %s", err, tt.wantCode)
			}
			if !errors.Is(err, tt.wantCause) {
				t.Errorf("got %v, want it to match %v", err, tt.wantCause)
			}
			if got := errors.Is(err, errorsx.ErrCredentialRejected); got != tt.credential {
				t.Errorf("got errors.Is(ErrCredentialRejected) %v, want %v", got, tt.credential)
			}
			if got := err.Error(); !strings.Contains(got, tt.wantText) || strings.Contains(got, "sk_") {
				t.Errorf("got error text %q, want it to contain %q and no key", got, tt.wantText)
			}
		})
	}
}

// TestAuthenticateAllocs: a valid key and the common rejections cost no
// allocation in the authenticator (the principal and the 401s are shared).
func TestAuthenticateAllocs(t *testing.T) {
	a := must(auth.New(auth.Config{Store: must(auth.NewMemoryKeyStore(authDemoKeys())), APIKeyHeader: auth.HeaderAPIKey}))
	for _, authz := range []string{"Bearer sk_test_full", "Bearer sk_test_nope", "Basic x", ""} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		if n := alloctest.PerRun(100, func() { _, _ = a.Authenticate(req) }); n != 0 {
			t.Errorf("%q: got %v allocs, want 0", authz, n)
		}
	}
}
