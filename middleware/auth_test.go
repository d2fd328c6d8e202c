package middleware_test

import (
	"errors"
	"github.com/clipia/apiguard/internal/alloctest"
	"github.com/clipia/apiguard/internal/logtest"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/authtest"
	"github.com/clipia/apiguard/middleware"
	"github.com/labstack/echo/v4"
)

// authDemoKeys is the reference server's table (examples/server/README.md).
func authDemoKeys() []auth.KeyConfig { return authtest.DemoKeys() }

// authLog collects the JSON log records of the app under test.
type authLog = logtest.Buffer

// authEcho builds a real Echo with the renderer, request ids, the auth
// middleware and routes of the reference server's shape. Handlers answer
// 200 with "<key id> <tenant>".
func authEcho(t testing.TB, cfg auth.Config, log *authLog) *echo.Echo {
	t.Helper()
	if cfg.Store == nil {
		cfg.Store = middleware.Must(auth.NewMemoryKeyStore(authDemoKeys()))
	}
	var logger *slog.Logger
	if log != nil {
		logger = log.Logger()
	} else {
		logger = slog.New(slog.DiscardHandler)
	}
	authMW, err := middleware.Auth(cfg)
	if err != nil {
		t.Fatalf("Auth: %v", err)
	}
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: logger})
	e.Use(middleware.Must(middleware.RequestID(middleware.RequestIDConfig{})), authMW)
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

// TestAuthDoor runs the auth behaviour table (internal/authtest), the same
// for the three front doors, through an Echo v4 app.
func TestAuthDoor(t *testing.T) {
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	e.Use(middleware.Must(middleware.Auth(authtest.Config())))
	for _, r := range authtest.Routes {
		var mws []echo.MiddlewareFunc
		switch r.Guard {
		case authtest.RequireScopes:
			mws = append(mws, middleware.Must(middleware.RequireScopes(r.Scopes...)))
		case authtest.RequireAnyScope:
			mws = append(mws, middleware.Must(middleware.RequireAnyScope(r.Scopes...)))
		case authtest.Scopes:
			mws = append(mws, middleware.Must(middleware.Scopes(r.Config)))
		}
		e.Add(r.Method, r.Path, func(c echo.Context) error {
			return c.String(http.StatusOK, authtest.Body(middleware.PrincipalFrom(c)))
		}, mws...)
	}
	authtest.Run(t, e)
}

// TestAuthLogsOnce: a rejection is logged once, by the renderer, with the
// request id and the reason (and, for a revoked key, the key id); the
// middleware itself logs nothing.
func TestAuthLogsOnce(t *testing.T) {
	tests := []struct {
		name, authorization, wantWhy, wantKeyID string
	}{
		{"unknown", "Bearer sk_test_nope", "unknown", ""},
		{"revoked", "Bearer sk_test_revoked", "revoked", "key_revoked"},
		{"malformed", "Token x", "bad_scheme", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &authLog{}
			e := authEcho(t, auth.Config{}, log)
			rec := authDo(e, http.MethodGet, "/v1/models", bearer(tt.authorization))
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("got status %d, want 401", rec.Code)
			}
			failed := log.Records(t, "request failed")
			if all := log.Records(t, ""); len(all) != 1 || len(failed) != 1 {
				t.Fatalf("got %d records (%d request failed), want 1; log:\n%s", len(all), len(failed), log)
			}
			errText, _ := failed[0]["error"].(string)
			if !strings.Contains(errText, "API key rejected: "+tt.wantWhy) {
				t.Errorf("got logged error %q, want reason %q", errText, tt.wantWhy)
			}
			if got, want := failed[0]["request_id"], rec.Header().Get("X-Request-Id"); got != want || want == "" {
				t.Errorf("got logged request_id %v, want %q", got, want)
			}
			if tt.wantKeyID != "" && !strings.Contains(errText, "key id "+tt.wantKeyID) ||
				tt.wantKeyID == "" && strings.Contains(errText, "key id") {
				t.Errorf("got logged error %q, want key id %q", errText, tt.wantKeyID)
			}
			if strings.Contains(log.String(), "sk_test") {
				t.Errorf("the log contains a key:\n%s", log)
			}
		})
	}
}

// TestAuthRejectionsIndistinguishable sends the same request with a
// missing, malformed, unknown and revoked key: the status, body and headers
// must be byte-identical, but for WWW-Authenticate, which only says whether
// a key was sent at all.
func TestAuthRejectionsIndistinguishable(t *testing.T) {
	e := authEcho(t, auth.Config{}, nil)
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

func TestAuthRealmAndSkip(t *testing.T) {
	e := authEcho(t, auth.Config{
		Skip: func(r *http.Request) bool { return r.Header.Get("X-Skip") == "1" },
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
	store := middleware.Must(auth.NewMemoryKeyStore(authDemoKeys()))
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
		middleware.Must(middleware.Auth(auth.Config{}))
	})
}

// TestAuthRejectionIsAuthRejected: the error a middleware before the
// renderer sees is an invalid_api_key that errors.Is auth.ErrRejected, and
// its text names the reason but not the key.
func TestAuthRejectionIsAuthRejected(t *testing.T) {
	mw := middleware.Must(middleware.Auth(auth.Config{
		Store: middleware.Must(auth.NewMemoryKeyStore(authDemoKeys())),
	}))
	e := echo.New()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer sk_test_revoked")
	c := e.NewContext(req, httptest.NewRecorder())
	c.SetPath("/") // as the router sets it: the request matched a route
	err := mw(func(echo.Context) error { return nil })(c)
	if !errors.Is(err, auth.ErrRejected) {
		t.Fatalf("got %v, want auth.ErrRejected", err)
	}
	if !errors.Is(err, errorsx.InvalidAPIKey()) {
		t.Errorf("got %v, want an invalid_api_key", err)
	}
	if got := err.Error(); !strings.Contains(got, "revoked") || strings.Contains(got, "sk_test") {
		t.Errorf("got error text %q, want the reason and no key", got)
	}
}

// TestAuthAllocs: a skipped request and a request without a key cost the
// Echo v4 middleware no allocation.
func TestAuthAllocs(t *testing.T) {
	mw := middleware.Must(middleware.Auth(auth.Config{
		Store: middleware.Must(auth.NewMemoryKeyStore(authDemoKeys())),
		Skip:  func(r *http.Request) bool { return r.Header.Get("X-Skip") == "1" },
	}))
	h := mw(func(echo.Context) error { return nil })
	e := echo.New()
	e.GET("/", func(echo.Context) error { return nil })
	for _, tt := range []struct {
		name    string
		skip    bool
		wantErr bool
	}{{"skipped", true, false}, {"no key", false, true}} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.skip {
				req.Header.Set("X-Skip", "1")
			}
			c := e.NewContext(req, httptest.NewRecorder())
			c.SetPath("/")
			var err error
			if n := alloctest.PerRun(100, func() { err = h(c) }); n != 0 {
				t.Errorf("got %v allocs per request, want 0", n)
			}
			if (err != nil) != tt.wantErr {
				t.Errorf("got error %v, want error %v", err, tt.wantErr)
			}
		})
	}
}
