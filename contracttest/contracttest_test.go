package contracttest_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/contracttest"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/internal/doors"
	"github.com/clipia/apiguard/internal/openapidoc"
	"github.com/clipia/apiguard/middleware/nethttp"
	"github.com/clipia/apiguard/ratelimit"
)

// recorder is a testing.TB that records the errors Run reports, so a test
// can assert that the checker caught a defect.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Error(args ...any) { r.Errorf("%s", fmt.Sprint(args...)) }

func (r *recorder) Logf(string, ...any) {}

func (r *recorder) Helper() {}

// itemsDoc is the document of itemsApp.
func itemsDoc(t testing.TB) []byte {
	doc, err := openapidoc.WithErrors("testdata/items.json", errorsx.OpenAPIConfig{HandlerConfig: errorsx.HandlerConfig{ProblemJSON: true}})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

type itemRequest struct {
	Name   string `json:"name" validate:"required,min=1,max=100"`
	Size   *int   `json:"size" validate:"omitempty,min=1,max=10"`
	Colour string `json:"colour" validate:"omitempty,oneof=red blue"`
}

const itemsKey = "sk_test_items"

// itemsApp is a small app with every guard, the one testdata/items.json
// describes, on door d.
func itemsApp(t testing.TB, d doors.Door) http.Handler { return itemsAppAt(t, d, "") }

// itemsAppAt is itemsApp with every path under prefix.
func itemsAppAt(t testing.TB, d doors.Door, prefix string) http.Handler {
	keys := guard.Must(auth.NewMemoryKeyStore([]auth.KeyConfig{
		{Key: itemsKey, KeyID: "key_items", Tenant: "acme", Scopes: []string{"items:read", "items:write"}},
		{Key: "sk_test_read", KeyID: "key_read", Tenant: "acme", Scopes: []string{"items:read"}},
		{Key: "sk_test_write", KeyID: "key_write", Tenant: "acme", Scopes: []string{"items:write"}},
	}))
	authn := guard.Must(auth.New(auth.Config{Store: keys}))
	limit := guard.Must(ratelimit.New(ratelimit.Config{Policies: []ratelimit.Policy{ratelimit.PerSecond("default", 1000, 1000)}}))
	read := guard.Must(auth.RequireScopes("items:read"))
	write := guard.Must(auth.RequireScopes("items:write"))
	idem := guard.Must(idempotency.New(idempotency.Config{}))
	body := guard.Must(bind.New[itemRequest](bind.Config{Strict: true}))
	json200 := func(status int, v any) doors.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request, p doors.Params) error {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			return json.NewEncoder(w).Encode(v)
		}
	}
	return d.New(t, doors.Spec{
		Errors:      errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler), ProblemJSON: true},
		Use:         []guard.Guard{guard.RequestID(guard.RequestIDConfig{}), guard.Must(guard.Recover(guard.RecoverConfig{}))},
		GroupPrefix: prefix + "/v1",
		Group:       []guard.Guard{authn, limit},
		Routes: []doors.Route{
			{Method: "GET", Path: prefix + "/healthz", Handler: json200(200, map[string]bool{"ok": true})},
			{Method: "GET", Path: prefix + "/v1/items", Guards: []guard.Guard{read}, Handler: json200(200, []string{"a"})},
			{Method: "POST", Path: prefix + "/v1/items", Guards: []guard.Guard{write, idem, body}, Handler: func(w http.ResponseWriter, r *http.Request, p doors.Params) error {
				return json200(201, map[string]string{"id": "b", "name": bind.Body[itemRequest](r).Name})(w, r, p)
			}},
			{Method: "GET", Path: prefix + "/v1/items/{id}", Guards: []guard.Guard{read}, Handler: func(w http.ResponseWriter, r *http.Request, p doors.Params) error {
				if p.Param("id") != "a" {
					return errorsx.NotFound().WithParam("id")
				}
				return json200(200, map[string]string{"id": "a"})(w, r, p)
			}},
		},
	})
}

// The checker passes on a correct app, on every door.
func TestRunPassesOnEveryDoor(t *testing.T) {
	doc := itemsDoc(t)
	doors.Run(t, func(t *testing.T, d doors.Door) {
		contracttest.Run(t, itemsApp(t, d), doc, contracttest.Key(itemsKey))
	})
}

// The base path comes from the document's first server, or BasePath; a
// key per operation from OperationKey.
func TestRunOptions(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(itemsDoc(t), &doc); err != nil {
		t.Fatal(err)
	}
	doc["servers"] = []any{map[string]any{"url": "https://api.example.com/api"}}
	withServer, _ := json.Marshal(doc)
	app := itemsAppAt(t, doors.Chi, "/api")
	t.Run("servers", func(t *testing.T) {
		contracttest.Run(t, app, withServer, contracttest.Key(itemsKey))
	})
	t.Run("BasePath", func(t *testing.T) {
		contracttest.Run(t, app, itemsDoc(t), contracttest.Key(itemsKey), contracttest.BasePath("/api/"))
	})
	t.Run("OperationKey", func(t *testing.T) {
		contracttest.Run(t, itemsApp(t, doors.Gin), itemsDoc(t), contracttest.Key("sk_test_read"),
			contracttest.OperationKey("createItem", "sk_test_write"))
	})
	t.Run("a key without the scope", func(t *testing.T) {
		rec := &recorder{TB: t}
		contracttest.Run(rec, itemsApp(t, doors.Gin), itemsDoc(t), contracttest.Key("sk_test_read"))
		want := "POST /v1/items: a valid request"
		if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], want) || !strings.Contains(rec.errs[0], "the valid key was refused") {
			t.Errorf("got %q, want one error: %s … the valid key was refused", rec.errs, want)
		}
	})
}

// The checker probes what it says it does: each probe's request reaches
// the app (counted by a wrapper), and Run stays within its bound.
func TestRunIsBounded(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	app := itemsApp(t, doors.NetHTTP)
	count := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Method]++
		mu.Unlock()
		app.ServeHTTP(w, r)
	})
	contracttest.Run(t, count, itemsDoc(t), contracttest.Key(itemsKey))
	total := 0
	for _, n := range seen {
		total += n
	}
	// 4 operations on 3 paths: at most 19 requests each, and 7 methods per path.
	if total == 0 || total > 4*19+3*7 {
		t.Errorf("got %d requests (%v), want between 1 and %d", total, seen, 4*19+3*7)
	}
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		if seen[m] == 0 {
			t.Errorf("no %s request; want every method probed (got %v)", m, seen)
		}
	}
}

// brokenDoc describes GET /v1/thing: 200, or 401, 429 and 500 errors.
const brokenDoc = `{
  "openapi": "3.1.0",
  "info": {"title": "broken", "version": "1"},
  "paths": {
    "/v1/thing": {
      "get": {
        "responses": {
          "200": {"description": "The thing."},
          "401": {"description": "No key."},
          "429": {"description": "Too many."},
          "500": {"description": "Failed."}
        }
      }
    }
  }
}`

// brokenApp is a correct net/http door app whose one route, GET /v1/thing,
// answers with h.
func brokenApp(h nethttp.HandlerFunc) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /v1/thing", h)
	return nethttp.Install(mux, nethttp.Config{
		Errors: errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)},
		Use:    []guard.Guard{guard.RequestID(guard.RequestIDConfig{})},
	})
}

// writeRaw answers status with body as JSON and the headers kv, bypassing
// the renderer, as a handler that writes its own errors does.
func writeRaw(status int, body string, kv ...string) nethttp.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		for i := 0; i+1 < len(kv); i += 2 {
			w.Header().Set(kv[i], kv[i+1])
		}
		w.WriteHeader(status)
		_, err := w.Write([]byte(body))
		return err
	}
}

// The checker fails on a deliberately broken app: each defect is reported,
// in a message that names the operation, and a correct variant is not.
func TestRunFailsOnBrokenApps(t *testing.T) {
	const json = errorsx.ContentTypeJSON
	tests := []struct {
		name string
		app  http.Handler
		want []string // each must be in some reported error
	}{
		{name: "correct", app: brokenApp(writeRaw(200, `{"ok":true}`, "Content-Type", "application/json"))},
		{name: "plain-text 500", app: brokenApp(writeRaw(500, "boom\n", "Content-Type", "text/plain; charset=utf-8")),
			want: []string{`GET /v1/thing: a valid request (GET /v1/thing): got 500 text/plain; charset=utf-8 "boom\n": Content-Type "text/plain; charset=utf-8"; want the JSON envelope`}},
		{name: "undeclared 402", app: brokenApp(func(w http.ResponseWriter, r *http.Request) error { return errorsx.InsufficientCredits() }),
			want: []string{"status 402 is not listed among the responses of GET /v1/thing in the document (it lists 200, 401, 429, 500)"}},
		{name: "429 without Retry-After", app: brokenApp(writeRaw(429, `{"error":{"type":"rate_limit_error","code":"rate_limit_exceeded","message":"Slow down."}}`,
			"Content-Type", json, "X-Should-Retry", "true")),
			want: []string{`Retry-After ""; want whole seconds, at least 1, on every 429 rate_limit_exceeded`}},
		{name: "401 without WWW-Authenticate", app: brokenApp(writeRaw(401, `{"error":{"type":"authentication_error","code":"invalid_api_key","message":"No."}}`,
			"Content-Type", json, "X-Should-Retry", "false")),
			want: []string{`WWW-Authenticate ""; want a Bearer challenge`}},
		{name: "extra member inside error", app: brokenApp(writeRaw(500, `{"error":{"type":"api_error","code":"internal_error","message":"Oops.","request_id":"r1"}}`,
			"Content-Type", json, "X-Should-Retry", "true")),
			want: []string{`error has the member "request_id"`}},
		{name: "X-Should-Retry contradicts the row", app: brokenApp(writeRaw(500, `{"error":{"type":"api_error","code":"internal_error","message":"Oops."}}`,
			"Content-Type", json, "X-Should-Retry", "false")),
			want: []string{`X-Should-Retry "false"; want true`}},
		{name: "a code sent with another row's status", app: brokenApp(writeRaw(500, `{"error":{"type":"invalid_request_error","code":"not_found","message":"Gone."}}`,
			"Content-Type", json, "X-Should-Retry", "false")),
			want: []string{`code "not_found" sent with status 500; want it with 404`}},
		{name: "Request-Id differs from X-Request-Id", app: brokenApp(writeRaw(200, `{}`, "Content-Type", "application/json", "Request-Id", "other")),
			want: []string{`Request-Id ["other"]; want the X-Request-Id`}},
		{name: "a status of no row", app: brokenApp(writeRaw(418, `{"error":{"type":"api_error","code":"teapot","message":"No."}}`, "Content-Type", json)),
			want: []string{"status 418 is none of the eleven rows"}},
		// A ServeMux without the door: it redirects odd paths and answers
		// unknown ones in plain text, without a request id.
		{name: "ServeMux without the door", app: func() http.Handler {
			mux := http.NewServeMux()
			mux.Handle("GET /v1/thing", writeRaw(200, `{}`, "Content-Type", "application/json", "X-Request-Id", "r1"))
			return mux
		}(), want: []string{
			`GET /v1/thing: an empty segment (//) (GET //v1/thing): got 307`,
			`want no redirect`,
			`path /v1/thing: a method the path does not serve, no key (POST /v1/thing): got 405`,
			`no X-Request-Id header`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			contracttest.Run(rec, tc.app, []byte(brokenDoc))
			if len(tc.want) == 0 && len(rec.errs) > 0 {
				t.Errorf("got %d errors on a correct app, want none:\n%s", len(rec.errs), strings.Join(rec.errs, "\n"))
			}
			if len(tc.want) > 0 && len(rec.errs) == 0 {
				t.Fatalf("got no error, want the defect reported")
			}
			for _, w := range tc.want {
				found := false
				for _, e := range rec.errs {
					found = found || strings.Contains(e, w)
				}
				if !found {
					t.Errorf("no reported error contains %q; got:\n%s", w, strings.Join(rec.errs, "\n"))
				}
			}
			for _, e := range rec.errs {
				if !strings.HasPrefix(e, "contracttest: ") {
					t.Errorf("got %q, want every message to start with contracttest:", e)
				}
			}
		})
	}
}

// looseDoc describes POST /v1/things: a strict body with a required name,
// and an Idempotency-Key.
const looseDoc = `{
  "openapi": "3.1.0",
  "info": {"title": "loose", "version": "1"},
  "paths": {
    "/v1/things": {
      "post": {
        "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}}],
        "requestBody": {"content": {"application/json": {"schema": {
          "type": "object", "additionalProperties": false, "required": ["name"],
          "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 50}}
        }}}},
        "responses": {
          "201": {"description": "Created."},
          "400": {"description": "Invalid."},
          "409": {"description": "Reused key."}
        }
      }
    }
  }
}`

// The checker fails an app that lacks the guards its document promises: a
// handler that reads any JSON (no strict binding, no validation) and no
// idempotency guard; and one whose errors echo a huge field name.
func TestRunFailsOnMissingGuards(t *testing.T) {
	app := func(h nethttp.HandlerFunc) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("POST /v1/things", h)
		return nethttp.Install(mux, nethttp.Config{
			Errors: errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)},
			Use:    []guard.Guard{guard.RequestID(guard.RequestIDConfig{})},
		})
	}
	loose := app(func(w http.ResponseWriter, r *http.Request) error {
		var v map[string]any
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
			return errorsx.InvalidRequest()
		}
		return writeRaw(201, `{"id":"t1"}`, "Content-Type", "application/json")(w, r)
	})
	echoing := app(func(w http.ResponseWriter, r *http.Request) error {
		var v map[string]any
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
			return errorsx.InvalidRequest()
		}
		for k := range v {
			if k != "name" {
				msg, _ := json.Marshal("unknown field " + k) // not cut
				return writeRaw(400, `{"error":{"type":"invalid_request_error","code":"invalid_request","message":`+string(msg)+`}}`,
					"Content-Type", errorsx.ContentTypeJSON, "X-Should-Retry", "false")(w, r)
			}
		}
		return errorsx.InvalidRequest().WithParam("name")
	})
	tests := []struct {
		name string
		app  http.Handler
		want []string
	}{
		{name: "no binding, no idempotency guard", app: loose, want: []string{
			`POST /v1/things: required field "name" missing (POST /v1/things, body "{}"): got 201`,
			`status 201; want 400 invalid_request: a required field is missing`,
			`unknown field "contracttest_extra"`,
			`status 201; want 400 invalid_request: the body schema has additionalProperties: false`,
			`field "name" of the wrong type`,
			`Idempotent-Replayed ""; want "true" on a replayed answer`,
			`status 201; want 409 idempotency_key_reuse: the key was used with other parameters`,
			`an Idempotency-Key of 300 characters`,
		}},
		{name: "a huge field name echoed", app: echoing, want: []string{
			`a field name of 100000 characters`,
			`want under 4096: client input echoed in a message or param is cut to a bounded length`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			contracttest.Run(rec, tc.app, []byte(looseDoc))
			for _, w := range tc.want {
				found := false
				for _, e := range rec.errs {
					found = found || strings.Contains(e, w)
				}
				if !found {
					t.Errorf("no reported error contains %q; got:\n%s", w, strings.Join(rec.errs, "\n"))
				}
			}
		})
	}
}

// Run reports a document it cannot read, and an option that names no
// operation, as errors of the test.
func TestRunReportsBadInput(t *testing.T) {
	app := brokenApp(writeRaw(200, `{}`, "Content-Type", "application/json"))
	for _, tc := range []struct {
		name string
		doc  string
		opts []contracttest.Option
		want string
	}{
		{"not JSON", `openapi: 3.1.0`, nil, "contracttest: the document is not an OpenAPI JSON document"},
		{"Swagger 2", `{"swagger":"2.0","paths":{"/a":{}}}`, nil, `the document's openapi is ""`},
		{"no paths", `{"openapi":"3.1.0"}`, nil, "the document has no paths"},
		{"an option naming no operation", brokenDoc, []contracttest.Option{contracttest.Body("POST /v1/thing", `{}`)},
			`an option names the operation "POST /v1/thing", which the document does not have`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			contracttest.Run(rec, app, []byte(tc.doc), tc.opts...)
			if len(rec.errs) == 0 || !strings.Contains(rec.errs[0], tc.want) {
				t.Errorf("got %q, want a first error containing %q", rec.errs, tc.want)
			}
		})
	}
}
