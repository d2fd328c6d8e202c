package doors_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/internal/doors"
	"github.com/clipia/apiguard/principal"
)

// testApp is a small app: GET /v1/models and GET /v1/models/{id} behind
// auth on the /v1 group, GET /healthz without a key.
func testApp(t *testing.T, d doors.Door) http.Handler {
	keys := guard.Must(auth.NewMemoryKeyStore([]auth.KeyConfig{
		{Key: "sk_test_full", KeyID: "key_full", Tenant: "acme", Scopes: []string{"models:read"}},
	}))
	authn := guard.Must(auth.New(auth.Config{Store: keys}))
	read := guard.Must(auth.RequireScopes("models:read"))
	ok := func(w http.ResponseWriter, r *http.Request, p doors.Params) error {
		pr, _ := principal.FromContext(r.Context())
		tenant := ""
		if pr != nil {
			tenant = pr.Tenant
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		return json.NewEncoder(w).Encode(map[string]string{"method": r.Method, "id": p.Param("id"), "tenant": tenant})
	}
	return d.New(t, doors.Spec{
		Errors:      errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)},
		Use:         []guard.Guard{guard.RequestID(guard.RequestIDConfig{}), guard.Must(guard.Recover(guard.RecoverConfig{}))},
		GroupPrefix: "/v1",
		Group:       []guard.Guard{authn},
		Routes: []doors.Route{
			{Method: http.MethodGet, Path: "/v1/models", Guards: []guard.Guard{read}, Handler: ok},
			{Method: http.MethodGet, Path: "/v1/models/{id}", Guards: []guard.Guard{read}, Handler: ok},
			{Method: http.MethodPost, Path: "/v1/fail", Handler: func(w http.ResponseWriter, r *http.Request, p doors.Params) error {
				return errorsx.InsufficientCredits()
			}},
			{Method: http.MethodGet, Path: "/v1/panic", Handler: func(w http.ResponseWriter, r *http.Request, p doors.Params) error {
				panic("boom at 10.0.0.1")
			}},
			{Method: http.MethodGet, Path: "/healthz", Handler: ok},
		},
	})
}

type answer struct {
	status int
	code   string
	body   string
}

func do(h http.Handler, method, target string, key bool) answer {
	req := httptest.NewRequest(method, "/", nil)
	req.RequestURI = target
	u, err := url.ParseRequestURI(target)
	if err != nil {
		panic(err)
	}
	req.URL = u
	if key {
		req.Header.Set("Authorization", "Bearer sk_test_full")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var env struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &env)
	return answer{status: rec.Code, code: env.Error.Code, body: rec.Body.String()}
}

// TestPathsAnswerAlikeOnEveryDoor is the table of odd paths: every door
// gives the same status and code, never a redirect.
func TestPathsAnswerAlikeOnEveryDoor(t *testing.T) {
	cases := []struct {
		method, path string
		key          bool
		status       int
		code         string
	}{
		{"GET", "/v1/models", true, 200, ""},
		{"GET", "/v1/models", false, 401, "invalid_api_key"},
		{"GET", "/v1/models/clipia-fast", true, 200, ""},
		{"HEAD", "/v1/models", true, 200, ""},
		{"HEAD", "/v1/models", false, 401, ""},
		{"GET", "/healthz", false, 200, ""},
		{"GET", "/v1/nope", false, 404, "not_found"},
		{"GET", "/v1/nope", true, 404, "not_found"},
		{"GET", "/nope", false, 404, "not_found"},
		{"DELETE", "/v1/models", false, 404, "not_found"},
		{"DELETE", "/v1/models", true, 404, "not_found"},
		{"POST", "/v1/fail", true, 402, "insufficient_credits"},
		{"GET", "/v1/panic", true, 500, "internal_error"},
		{"GET", "//v1/models", true, 404, "not_found"},
		{"GET", "/v1//models", true, 404, "not_found"},
		{"GET", "/v1/../v1/models", true, 404, "not_found"},
		{"GET", "/v1/./models", true, 404, "not_found"},
		{"GET", "/v1/%2e%2e/v1/models", true, 404, "not_found"},
		{"GET", "/v1/models/", true, 404, "not_found"},
		{"GET", "/healthz/", false, 404, "not_found"},
		{"GET", "/V1/models", true, 404, "not_found"},
		{"GET", "/%761/models", true, 200, ""},
		{"GET", "/v1/mod%65ls", true, 200, ""},
		{"GET", "/v1/mod%65ls", false, 401, "invalid_api_key"},
		{"GET", "/v1/models%2Fx", true, 404, "not_found"},
		{"GET", "/v1/models/x/y", true, 404, "not_found"},
		{"GET", "/v1/models/x/y", false, 404, "not_found"},
		{"OPTIONS", "/healthz", false, 404, "not_found"},
		{"OPTIONS", "/v1/models", true, 404, "not_found"},
		{"OPTIONS", "/nope", false, 404, "not_found"},
		{"CONNECT", "/healthz", false, 404, "not_found"},
		{"TRACE", "/healthz", false, 404, "not_found"},
		{"PROPFIND", "/healthz", false, 404, "not_found"},
	}
	doors.Run(t, func(t *testing.T, d doors.Door) {
		if d.New == nil {
			t.Skip("door not built yet")
		}
		h := testApp(t, d)
		for _, c := range cases {
			got := do(h, c.method, c.path, c.key)
			if got.status != c.status || got.code != c.code {
				t.Errorf("%s %s (key %v): got %d %q, want %d %q (body %s)", c.method, c.path, c.key, got.status, got.code, c.status, c.code, got.body)
			}
			if c.method == "HEAD" && got.body != "" {
				t.Errorf("%s %s: HEAD got a body %q", c.method, c.path, got.body)
			}
			if strings.Contains(got.body, "10.0.0.1") {
				t.Errorf("%s %s: leaked the panic value", c.method, c.path)
			}
		}
	})
}
