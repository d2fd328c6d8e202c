package authtest

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/internal/doors"
	"github.com/clipia/apiguard/internal/logtest"
	"github.com/clipia/apiguard/principal"
)

// NewApp builds the app of door d: request ids for every request, then on
// every route of [Routes] the Authenticator of cfg and the route's scope
// guard; each handler answers 200 with [Body] of the request's principal
// (principal.FromContext). errs configures the door's renderer; a nil
// Logger discards.
func NewApp(tb testing.TB, d doors.Door, cfg auth.Config, errs errorsx.HandlerConfig) http.Handler {
	h, _ := newApp(tb, d, cfg, errs)
	return h
}

// newApp is [NewApp] with the counter of the handlers' runs.
func newApp(tb testing.TB, d doors.Door, cfg auth.Config, errs errorsx.HandlerConfig) (http.Handler, *atomic.Int64) {
	tb.Helper()
	if errs.Logger == nil {
		errs.Logger = slog.New(slog.DiscardHandler)
	}
	authn, err := auth.New(cfg)
	if err != nil {
		tb.Fatalf("auth.New: %v", err)
	}
	calls := new(atomic.Int64)
	handler := func(w http.ResponseWriter, r *http.Request, _ doors.Params) error {
		calls.Add(1)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, err := w.Write([]byte(Body(principal.FromContext(r.Context()))))
		return err
	}
	var routes []doors.Route
	for _, rt := range Routes {
		gs := []guard.Guard{authn}
		var sc *auth.Scopes
		switch rt.Guard {
		case RequireScopes:
			sc, err = auth.RequireScopes(rt.Scopes...)
		case RequireAnyScope:
			sc, err = auth.RequireAnyScope(rt.Scopes...)
		case Scopes:
			sc, err = auth.NewScopes(rt.Config)
		}
		if err != nil {
			tb.Fatalf("%s %s: %v", rt.Method, rt.Path, err)
		}
		if sc != nil {
			gs = append(gs, sc)
		}
		routes = append(routes, doors.Route{Method: rt.Method, Path: rt.Path, Guards: gs, Handler: handler})
	}
	return d.New(tb, doors.Spec{
		Errors: errs,
		Use:    []guard.Guard{guard.RequestID(guard.RequestIDConfig{})},
		Routes: routes,
	}), calls
}

// Run runs the table through every front door: [Cases] (the handler runs
// only for a 200), a rejection logged once by the renderer, rejections that
// are indistinguishable, and the renderer's realm in the challenge.
func Run(t *testing.T) {
	doors.Run(t, func(t *testing.T, d doors.Door) {
		t.Run("cases", func(t *testing.T) {
			h, calls := newApp(t, d, Config(), errorsx.HandlerConfig{})
			runCases(t, h, calls)
		})
		t.Run("logged once", func(t *testing.T) { logsOnce(t, d) })
		t.Run("rejections indistinguishable", func(t *testing.T) { indistinguishable(t, d) })
		t.Run("realm", func(t *testing.T) { realm(t, d) })
	})
}

func send(h http.Handler, method, path string, header ...[2]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	for _, kv := range header {
		req.Header.Add(kv[0], kv[1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// body401 is the one 401 body every rejected key gets.
var body401 = string(errorsx.AppendEnvelope(nil, errorsx.InvalidAPIKey()))

// logsOnce: a rejection is logged once, by the renderer, with the request
// id and the reason (and, for a revoked key, the key id), never the key;
// the guard itself logs nothing.
func logsOnce(t *testing.T, d doors.Door) {
	for _, tt := range []struct{ name, authorization, why, keyID string }{
		{"unknown", "Bearer sk_test_nope", "unknown", ""},
		{"revoked", "Bearer sk_test_revoked", "revoked", "key_revoked"},
		{"malformed", "Token x", "bad_scheme", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			log := &logtest.Buffer{}
			h := NewApp(t, d, Config(), errorsx.HandlerConfig{Logger: log.Logger()})
			rec := send(h, http.MethodGet, "/v1/models", bearer(tt.authorization))
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("got status %d, want 401", rec.Code)
			}
			failed := log.Records(t, "request failed")
			if all := log.Records(t, ""); len(all) != 1 || len(failed) != 1 {
				t.Fatalf("got %d records (%d request failed), want 1; log:\n%s", len(all), len(failed), log)
			}
			errText, _ := failed[0]["error"].(string)
			if !strings.Contains(errText, "API key rejected: "+tt.why) {
				t.Errorf("got logged error %q, want reason %q", errText, tt.why)
			}
			if got, want := failed[0]["request_id"], rec.Header().Get("X-Request-Id"); got != want || want == "" {
				t.Errorf("got logged request_id %v, want %q", got, want)
			}
			if tt.keyID != "" && !strings.Contains(errText, "key id "+tt.keyID) || tt.keyID == "" && strings.Contains(errText, "key id") {
				t.Errorf("got logged error %q, want key id %q", errText, tt.keyID)
			}
			if failed[0]["route"] != "/v1/models" {
				t.Errorf("got logged route %v, want /v1/models", failed[0]["route"])
			}
			if strings.Contains(log.String(), "sk_test") {
				t.Errorf("the log contains a key:\n%s", log)
			}
		})
	}
}

// indistinguishable sends the same request with a missing, malformed,
// unknown and revoked key: status, body and headers are byte-identical but
// for WWW-Authenticate, which only says whether a key was sent at all.
func indistinguishable(t *testing.T, d doors.Door) {
	h := NewApp(t, d, Config(), errorsx.HandlerConfig{})
	get := func(header ...[2]string) *httptest.ResponseRecorder {
		return send(h, http.MethodPost, "/v1/generations", append(header, [2]string{"X-Request-Id", "req-same"})...)
	}
	ref := get(bearer("Bearer sk_test_nope"))
	if ref.Code != 401 || ref.Body.String() != body401 {
		t.Fatalf("unknown key: got %d %s, want 401 %s", ref.Code, ref.Body, body401)
	}
	for _, c := range []struct {
		name   string
		header [][2]string
		sent   bool
	}{
		{"revoked", [][2]string{bearer("Bearer sk_test_revoked")}, true},
		{"missing", nil, false},
		{"malformed scheme", [][2]string{bearer("Token sk_test_full")}, true},
		{"malformed characters", [][2]string{bearer("Bearer \x7fsk")}, true},
		{"too long", [][2]string{bearer("Bearer " + strings.Repeat("k", 1000))}, true},
		{"unknown x-api-key", [][2]string{apiKey("sk_test_nope")}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := get(c.header...)
			if got.Code != ref.Code || got.Body.String() != ref.Body.String() {
				t.Errorf("got %d %q, want byte-identical %d %q", got.Code, got.Body, ref.Code, ref.Body)
			}
			gh, rh := got.Header().Clone(), ref.Header().Clone()
			want := challengeToken
			if !c.sent {
				want = challenge
			}
			if g := gh.Get("WWW-Authenticate"); g != want {
				t.Errorf("got WWW-Authenticate %q, want %q", g, want)
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

// realm: the challenge's realm is the renderer's (HandlerConfig.Realm).
func realm(t *testing.T, d doors.Door) {
	h := NewApp(t, d, Config(), errorsx.HandlerConfig{Realm: "clipia"})
	for _, tt := range []struct {
		name   string
		header [][2]string
		www    string
	}{
		{"without key", nil, `Bearer realm="clipia"`},
		{"with key", [][2]string{bearer("Bearer x")}, `Bearer realm="clipia", error="invalid_token"`},
		{"skipped before a scope check", [][2]string{{"X-Skip", "1"}, bearer("Bearer sk_test_full")}, `Bearer realm="clipia", error="invalid_token"`},
	} {
		rec := send(h, http.MethodGet, "/v1/models", tt.header...)
		if rec.Code != 401 || rec.Body.String() != body401 {
			t.Errorf("%s: got %d %s, want 401 %s", tt.name, rec.Code, rec.Body, body401)
		}
		if got := rec.Header().Get("WWW-Authenticate"); got != tt.www {
			t.Errorf("%s: got WWW-Authenticate %q, want %q", tt.name, got, tt.www)
		}
	}
}
