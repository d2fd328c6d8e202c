package middleware_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/middleware"
	"github.com/clipia/apiguard/principal"
	"github.com/labstack/echo/v4"
)

// authDemoKeys is the reference server's table (README, reference server).
func authDemoKeys() []middleware.KeyConfig {
	rw := []string{"models:read", "generations:read", "generations:write"}
	return []middleware.KeyConfig{
		{Key: "sk_test_full", KeyID: "key_full", Tenant: "acme", Scopes: rw},
		{Key: "sk_test_other", KeyID: "key_other", Tenant: "globex", Scopes: rw},
		{Key: "sk_test_readonly", KeyID: "key_readonly", Tenant: "acme", Scopes: []string{"models:read", "generations:read"}},
		{Key: "sk_test_nocredits", KeyID: "key_nocredits", Tenant: "initech", Scopes: rw},
		{Key: "sk_test_revoked", KeyID: "key_revoked", Tenant: "acme", Scopes: rw, Revoked: true},
	}
}

// authLog is a concurrency-safe buffer for a JSON slog handler.
type authLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *authLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *authLog) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Reset()
}

func (l *authLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// records returns the decoded records whose msg is msg, or all for "".
func (l *authLog) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if msg == "" || r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

func (l *authLog) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// authEcho builds a real Echo with the renderer, request ids, the auth
// middleware and routes of the reference server's shape. Handlers answer
// 200 with "<key id> <tenant>".
func authEcho(t testing.TB, cfg middleware.AuthConfig, log *authLog) *echo.Echo {
	t.Helper()
	if cfg.Store == nil {
		cfg.Store = middleware.Must(middleware.NewMemoryKeyStore(authDemoKeys()))
	}
	var logger *slog.Logger
	if log != nil {
		logger = log.logger()
	} else {
		logger = slog.New(slog.DiscardHandler)
	}
	auth, err := middleware.Auth(cfg)
	if err != nil {
		t.Fatalf("Auth: %v", err)
	}
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: logger})
	e.Use(middleware.Must(middleware.RequestID(middleware.RequestIDConfig{})), auth)
	who := func(c echo.Context) error {
		p, ok := middleware.PrincipalFrom(c)
		if !ok {
			return errors.New("no principal in handler")
		}
		return c.String(http.StatusOK, p.KeyID+" "+p.Tenant)
	}
	e.GET("/v1/models", who, middleware.Must(middleware.RequireScopes("models:read")))
	e.POST("/v1/generations", who, middleware.Must(middleware.RequireScopes("generations:write")))
	e.GET("/v1/admin", who, middleware.Must(middleware.RequireScopes("generations:write", "admin", "billing")))
	e.GET("/v1/any", who, middleware.Must(middleware.RequireAnyScope("admin", "generations:read")))
	e.GET("/v1/anyadmin", who, middleware.Must(middleware.RequireAnyScope("admin", "root")))
	return e
}

type authHeader struct{ name, value string }

func authDo(e *echo.Echo, method, path string, headers ...authHeader) *httptest.ResponseRecorder {
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
	long := "sk_" + strings.Repeat("a", middleware.DefaultMaxKeyLength)
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
		{name: "x-api-key enabled", apiKeyHdr: middleware.HeaderAPIKey, headers: []authHeader{{"X-API-Key", "sk_test_full"}},
			wantCode: 200, wantBody: "key_full acme"},
		{name: "x-api-key enabled, name in other case", apiKeyHdr: "x-api-key", headers: []authHeader{{"X-Api-Key", "sk_test_full"}},
			wantCode: 200, wantBody: "key_full acme"},
		{name: "x-api-key and same bearer", apiKeyHdr: middleware.HeaderAPIKey,
			headers:  []authHeader{{"X-API-Key", "sk_test_full"}, bearer("Bearer sk_test_full")},
			wantCode: 200, wantBody: "key_full acme"},
		{name: "x-api-key and other bearer", apiKeyHdr: middleware.HeaderAPIKey,
			headers:  []authHeader{{"X-API-Key", "sk_test_full"}, bearer("Bearer sk_test_other")},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "conflicting_headers"},
		{name: "x-api-key unknown", apiKeyHdr: middleware.HeaderAPIKey, headers: []authHeader{{"X-API-Key", "sk_test_nope"}},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "unknown"},
		{name: "x-api-key empty", apiKeyHdr: middleware.HeaderAPIKey, headers: []authHeader{{"X-API-Key", ""}},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "empty"},
		{name: "x-api-key twice", apiKeyHdr: middleware.HeaderAPIKey,
			headers:  []authHeader{{"X-API-Key", "sk_test_full"}, {"X-API-Key", "sk_test_full"}},
			wantCode: 401, wantWWW: authChallengeToken, wantWhy: "multiple_headers"},
		{name: "x-api-key revoked", apiKeyHdr: middleware.HeaderAPIKey, headers: []authHeader{{"X-API-Key", "sk_test_revoked"}},
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
			e := authEcho(t, middleware.AuthConfig{APIKeyHeader: tt.apiKeyHdr}, log)
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
			failed := log.records(t, "request failed")
			if tt.wantWhy == "" {
				if tt.wantCode == 401 && len(failed) != 1 {
					t.Errorf("got %d records, want 1 for a 401: %v", len(failed), failed)
				}
				return
			}
			if all := log.records(t, ""); len(all) != 1 || len(failed) != 1 {
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
	e := authEcho(t, middleware.AuthConfig{}, nil)
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
		middleware.KeyConfig{Key: "sk_live_" + secret + "ok", KeyID: "key_live", Tenant: "t", Scopes: []string{"models:read"}},
		middleware.KeyConfig{Key: "sk_live_" + secret + "rv", KeyID: "key_live_rv", Tenant: "t", Revoked: true},
	)
	mem := middleware.Must(middleware.NewMemoryKeyStore(keys))
	failing := "sk_live_" + secret + "db"
	store := middleware.KeyStoreFunc(func(ctx context.Context, key string) (*principal.Principal, error) {
		if key == failing {
			return nil, errors.New("connection refused")
		}
		return mem.Lookup(ctx, key)
	})
	log := &authLog{}
	e := authEcho(t, middleware.AuthConfig{Store: store, APIKeyHeader: middleware.HeaderAPIKey}, log)
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
	if n := len(log.records(t, "request failed")); n != 12 {
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
		store    middleware.KeyStoreFunc
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
			return nil, errors.Join(errors.New("row missing"), middleware.ErrKeyNotFound)
		}, 401, "invalid_api_key"},
		{"revoked without principal", func(context.Context, string) (*principal.Principal, error) {
			return nil, middleware.ErrKeyRevoked
		}, 401, "invalid_api_key"},
		{"nil principal, nil error", func(context.Context, string) (*principal.Principal, error) {
			return nil, nil
		}, 500, "internal_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := authEcho(t, middleware.AuthConfig{Store: tt.store}, nil)
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

func TestAuthRealmAndSkipper(t *testing.T) {
	e := authEcho(t, middleware.AuthConfig{
		Skipper: func(c echo.Context) bool { return c.Request().Header.Get("X-Skip") == "1" },
	}, nil)
	// The realm has one owner: the renderer.
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Realm: "clipia", Logger: slog.New(slog.DiscardHandler)})
	e.GET("/healthz", func(c echo.Context) error {
		_, ok := middleware.PrincipalFrom(c)
		if ok {
			return c.String(200, "principal")
		}
		return c.String(200, "ok")
	})
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
		{"skipped route has no principal", "/healthz", []authHeader{{"X-Skip", "1"}}, 200, "", "ok"},
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

func TestAuthConfigErrors(t *testing.T) {
	store := middleware.Must(middleware.NewMemoryKeyStore(authDemoKeys()))
	tests := []struct {
		name    string
		cfg     middleware.AuthConfig
		wantErr string
	}{
		{"no store", middleware.AuthConfig{}, "Store is nil"},
		{"negative max length", middleware.AuthConfig{Store: store, MaxKeyLength: -1}, "MaxKeyLength"},
		{"bad header name", middleware.AuthConfig{Store: store, APIKeyHeader: "X API Key"}, "APIKeyHeader"},
		{"authorization as api key header", middleware.AuthConfig{Store: store, APIKeyHeader: "authorization"}, "Authorization"},
		{"valid", middleware.AuthConfig{Store: store, APIKeyHeader: "X-API-Key", MaxKeyLength: 10}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := middleware.Auth(tt.cfg)
			if tt.wantErr == "" {
				if err != nil || mw == nil {
					t.Fatalf("got %v, want a middleware", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one mentioning %q", err, tt.wantErr)
			}
			if mw != nil {
				t.Errorf("got a middleware along with the error")
			}
		})
	}
	t.Run("MustAuth panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Errorf("got no panic, want one")
			}
		}()
		middleware.Must(middleware.Auth(middleware.AuthConfig{}))
	})
}

func TestAuthMaxKeyLength(t *testing.T) {
	key := strings.Repeat("k", 300)
	store := middleware.Must(middleware.NewMemoryKeyStore([]middleware.KeyConfig{{Key: key, KeyID: "long", Scopes: []string{"models:read"}}}))
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
			e := authEcho(t, middleware.AuthConfig{Store: store, MaxKeyLength: tt.max}, nil)
			rec := authDo(e, http.MethodGet, "/v1/models", bearer("Bearer "+key))
			if rec.Code != tt.wantCode {
				t.Errorf("got status %d, want %d", rec.Code, tt.wantCode)
			}
		})
	}
}

// TestAuthRejectionIsAuthRejected: the error a middleware before the
// renderer sees is an invalid_api_key that errors.Is ErrAuthRejected, and
// its text names the reason but not the key.
func TestAuthRejectionIsAuthRejected(t *testing.T) {
	auth := middleware.Must(middleware.Auth(middleware.AuthConfig{
		Store: middleware.Must(middleware.NewMemoryKeyStore(authDemoKeys())),
	}))
	e := echo.New()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer sk_test_revoked")
	c := e.NewContext(req, httptest.NewRecorder())
	c.SetPath("/") // as the router sets it: the request matched a route
	err := auth(func(echo.Context) error { return nil })(c)
	if !errors.Is(err, middleware.ErrAuthRejected) {
		t.Fatalf("got %v, want ErrAuthRejected", err)
	}
	if !errors.Is(err, errorsx.InvalidAPIKey()) {
		t.Errorf("got %v, want an invalid_api_key", err)
	}
	if got := err.Error(); !strings.Contains(got, "revoked") || strings.Contains(got, "sk_test") {
		t.Errorf("got error text %q, want the reason and no key", got)
	}
}
