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
			{Method: http.MethodGet, Path: "/v1/own-head", Handler: ok},
			{Method: http.MethodHead, Path: "/v1/own-head", Handler: ownHead},
			{Method: http.MethodHead, Path: "/v1/head-only", Handler: ownHead},
		},
	})
}

// ownHead is a HEAD route's own handler: it answers 204 with X-Own.
func ownHead(w http.ResponseWriter, r *http.Request, p doors.Params) error {
	w.Header().Set("X-Own", r.Method)
	w.WriteHeader(http.StatusNoContent)
	return nil
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
	if u.Host != "" {
		req.Host = u.Host // absolute-form, as net/http reads it
	}
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
		{"get", "/healthz", false, 404, "not_found"},

		// A path's own HEAD route keeps HEAD (204, not GET's 200), behind the
		// group's guards; a HEAD-only route has no GET; HEAD of a POST-only
		// route is an unknown route.
		{"HEAD", "/v1/own-head", true, 204, ""},
		{"HEAD", "/v1/own-head", false, 401, ""},
		{"GET", "/v1/own-head", true, 200, ""},
		{"HEAD", "/v1/head-only", true, 204, ""},
		{"GET", "/v1/head-only", true, 404, "not_found"},
		{"HEAD", "/v1/fail", true, 404, ""},
		{"HEAD", "/v1/nope", true, 404, ""},

		// The query is not the path.
		{"GET", "/v1/models?x=1", true, 200, ""},
		{"GET", "/v1/models?", true, 200, ""},
		{"GET", "/v1/models?x=1", false, 401, "invalid_api_key"},
		{"GET", "/v1/nope?x=1", false, 404, "not_found"},
		{"GET", "/healthz?%zz", false, 200, ""},

		// Long paths, ";" (no path parameters of RFC 2396), NUL and bytes
		// that are not UTF-8: one segment like any other.
		{"GET", "/v1/" + strings.Repeat("a", 9000), true, 404, "not_found"},
		{"GET", "/v1/models/" + strings.Repeat("a", 9000), true, 200, ""},
		{"GET", "/v1/models;x=1", true, 404, "not_found"},
		{"GET", "/v1;x/models", true, 404, "not_found"},
		{"GET", "/v1/models/a;b", true, 200, ""},
		{"GET", "/v1/models%00", true, 404, "not_found"},
		{"GET", "/v1/models/%00", true, 200, ""},
		{"GET", "/v1/models%ff", true, 404, "not_found"},
		{"GET", "/v1/models/%ff", true, 200, ""},
		{"GET", "/v1/models/%c3%a9", true, 200, ""},
		{"GET", "/v1/models#x", true, 404, "not_found"},

		// Request targets that are not a path: "*" (asterisk-form) and
		// absolute-form, whose path routes as usual.
		{"OPTIONS", "*", false, 404, "not_found"},
		{"GET", "*", false, 404, "not_found"},
		{"GET", "http://api.example/v1/models", true, 200, ""},
		{"GET", "http://api.example/v1/models", false, 401, "invalid_api_key"},
		{"GET", "http://api.example/v1/nope", false, 404, "not_found"},
		{"GET", "http://api.example", false, 404, "not_found"},
	}
	doors.Run(t, func(t *testing.T, d doors.Door) {
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

// TestParamsReadAlikeOnEveryDoor: a handler reads a path parameter as the
// same text on every door, escapes decoded (in any hex case), a literal "%"
// never decoded twice.
//
// Not here: a reserved character escaped inside a parameter ("a%2Fb",
// "%3Aid"), which gin and net/http decode ("a/b", ":id") and Echo v4, Echo
// v5 and chi give as sent ("a%2Fb", "%3Aid"): every door routes it as one
// segment to the same route, but the parameter's text differs. And a
// parameter that is only "%2F": ServeMux takes the decoded "/" segment for
// a trailing slash, so the net/http door answers 404 where the others
// answer 200 with "%2F" or "/".
func TestParamsReadAlikeOnEveryDoor(t *testing.T) {
	long := strings.Repeat("a", 9000)
	cases := []struct{ target, id string }{
		{"/v1/models/clipia-fast", "clipia-fast"},
		{"/v1/models/clipia%2Dfast", "clipia-fast"},
		{"/v1/models/a?x=1", "a"},
		{"/v1/models/a;b", "a;b"},
		{"/v1/models/a+b", "a+b"},
		{"/v1/models/a%20b", "a b"},
		{"/v1/models/%00", "\x00"},
		{"/v1/models/%ff", "\ufffd"}, // not UTF-8: JSON writes U+FFFD
		{"/v1/models/%FF", "\ufffd"},
		{"/v1/models/%c3%a9", "é"},
		{"/v1/models/%C3%A9", "é"},
		{"/v1/models/é", "é"},
		{"/v1/models/%2541", "%41"},
		{"/v1/models/%25", "%"},
		{"/v1/models/:id", ":id"},
		{"/v1/models/{id}", "{id}"},
		{"/v1/models/*", "*"},
		{"/v1/models/" + long, long},
		{"http://api.example/v1/models/x", "x"},
	}
	doors.Run(t, func(t *testing.T, d doors.Door) {
		h := testApp(t, d)
		for _, c := range cases {
			got := do(h, "GET", c.target, true)
			var body struct{ ID string }
			_ = json.Unmarshal([]byte(got.body), &body)
			if got.status != 200 || body.ID != c.id {
				t.Errorf("GET %.40s: got %d id %.40q, want 200 id %.40q", c.target, got.status, body.ID, c.id)
			}
		}
	})
}
