package openapi_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/openapi"
	"github.com/clipia/apiguard/ratelimit"
)

var update = flag.Bool("update", false, "rewrite testdata/api.json")

type createItem struct {
	Name  string `json:"name" validate:"required,max=40"`
	Size  *int   `json:"size" validate:"omitempty,min=1"`
	Color string `json:"color" validate:"omitempty,oneof=red green"`
}

type item struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type listQuery struct {
	Limit int `query:"limit" validate:"omitempty,max=100"`
}

// api is a small API with every core guard on its routes.
func api(t testing.TB) *openapi.API {
	t.Helper()
	keys := guard.Must(auth.NewMemoryKeyStore([]auth.KeyConfig{{Key: "sk_test", KeyID: "k1", Scopes: []string{"items:write"}}}))
	authn := guard.Must(auth.New(auth.Config{Store: keys, APIKeyHeader: auth.HeaderAPIKey}))
	limit := guard.Must(ratelimit.New(ratelimit.Config{Policies: []ratelimit.Policy{ratelimit.PerSecond("default", 10, 20)}, FailClosed: true}))
	inFlight := guard.Must(ratelimit.NewConcurrency(ratelimit.ConcurrencyConfig{Limit: 2}))
	idem := guard.Must(idempotency.New(idempotency.Config{Required: true}))
	write := guard.Must(auth.RequireScopes("items:write"))
	body := guard.Must(bind.New[createItem](bind.Config{Strict: true}))
	query := guard.Must(bind.New[listQuery](bind.Config{}))
	request := []guard.Guard{
		guard.RequestID(guard.RequestIDConfig{}),
		guard.Must(guard.Recover(guard.RecoverConfig{})),
		guard.Must(guard.HeaderLimit(guard.HeaderLimitConfig{})),
	}
	group := []guard.Guard{authn, limit}
	return &openapi.API{
		Title: "Items", Version: "2.0.0", Description: "A test API.",
		Errors: errorsx.HandlerConfig{ProblemJSON: true},
		Guards: openapi.Guards(request),
		Routes: []openapi.Route{
			{Method: "GET", Path: "/healthz", Summary: "Health"},
			{Method: "GET", Path: "/v1/items", ID: "listItems", Summary: "List items",
				Guards: openapi.Guards(group, []guard.Guard{query}), Responses: []openapi.Response{openapi.JSON(200, "The items.", []item{})}},
			{Method: "POST", Path: "/v1/items", ID: "createItem", Summary: "Create an item", Tags: []string{"items"},
				Guards:    openapi.Guards(group, []guard.Guard{guard.Chain(inFlight, write, idem, body)}),
				Responses: []openapi.Response{openapi.JSON(201, "The item.", item{})},
				Errors:    []errorsx.Code{errorsx.CodeInsufficientCredits}},
			{Method: "GET", Path: "/v1/items/:id", ID: "getItem", Summary: "Get an item",
				Guards: openapi.Guards(group), Responses: []openapi.Response{openapi.JSON(200, "The item.", item{})},
				Errors: []errorsx.Code{errorsx.CodeNotFound}},
		},
	}
}

// TestDocumentGolden keeps testdata/api.json identical to the document of
// api: what each guard adds, in one file to read.
func TestDocumentGolden(t *testing.T) {
	got, err := api(t).JSON()
	if err != nil {
		t.Fatal(err)
	}
	const file = "testdata/api.json"
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the document differs from %s; after a deliberate change run go test ./openapi -update", file)
	}
	again, _ := api(t).JSON()
	if !bytes.Equal(got, again) {
		t.Error("two builds of one API differ")
	}
}

// TestWhatEachGuardAdds reads the document: every guard's part is there.
func TestWhatEachGuardAdds(t *testing.T) {
	data, err := api(t).JSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	get := func(path ...string) any {
		var v any = doc
		for _, p := range path {
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: no object at %q", path, p)
			}
			v = m[p]
		}
		return v
	}
	responses := func(path, method string) []string {
		var out []string
		for k := range get("paths", path, method, "responses").(map[string]any) {
			out = append(out, k)
		}
		slices.Sort(out)
		return strings.Fields(strings.Join(out, " "))
	}
	for _, tc := range []struct {
		path, method string
		want         string
	}{
		{"/healthz", "get", "400 500"}, // no success declared: what the guards say only
		{"/v1/items", "get", "200 400 401 429 500 503"},
		{"/v1/items", "post", "201 400 401 402 403 409 429 500 503"},
		{"/v1/items/{id}", "get", "200 400 401 404 429 500 503"},
	} {
		if got := strings.Join(responses(tc.path, tc.method), " "); got != tc.want {
			t.Errorf("%s %s lists %s, want %s", tc.method, tc.path, got, tc.want)
		}
	}
	if got := get("paths", "/v1/items", "post", "security"); fmt.Sprint(got) != "[map[bearerAuth:[]] map[apiKeyHeader:[]]]" {
		t.Errorf("security: got %v", got)
	}
	if get("paths", "/healthz", "get", "security") != nil {
		t.Error("/healthz has a security requirement; it has no auth guard")
	}
	schemes := get("components", "securitySchemes").(map[string]any)
	if fmt.Sprint(schemes["apiKeyHeader"]) != "map[description:The bare API key in the X-API-Key header. A request sending both headers must send the same key. in:header name:X-API-Key type:apiKey]" ||
		fmt.Sprint(schemes["bearerAuth"].(map[string]any)["scheme"]) != "bearer" {
		t.Errorf("security schemes: got %v", schemes)
	}
	params := get("paths", "/v1/items", "post", "parameters").([]any)
	if p := params[0].(map[string]any); p["name"] != "Idempotency-Key" || p["in"] != "header" || p["required"] != true {
		t.Errorf("parameters: got %v", params)
	}
	if p := get("paths", "/v1/items", "get", "parameters").([]any)[0].(map[string]any); p["name"] != "limit" || p["in"] != "query" {
		t.Errorf("query parameter: got %v", p)
	}
	if p := get("paths", "/v1/items/{id}", "get", "parameters").([]any)[0].(map[string]any); p["name"] != "id" || p["in"] != "path" || p["required"] != true {
		t.Errorf("path parameter: got %v", p)
	}
	if got := get("paths", "/v1/items", "post", "requestBody", "content", "application/json", "schema", "$ref"); got != "#/components/schemas/CreateItem" {
		t.Errorf("request body: got %v", got)
	}
	if got := get("components", "schemas", "CreateItem", "additionalProperties"); got != false {
		t.Errorf("strict body: additionalProperties %v, want false", got)
	}
	if got := get("components", "schemas", "CreateItem", "required"); fmt.Sprint(got) != "[name]" {
		t.Errorf("required: got %v", got)
	}
	conflict := get("paths", "/v1/items", "post", "responses", "409").(map[string]any)
	if fmt.Sprint(conflict["x-apiguard-codes"]) != "[idempotency_key_reuse request_in_progress]" {
		t.Errorf("409: got %v", conflict["x-apiguard-codes"])
	}
	for _, status := range []string{"201", "400", "409", "429"} {
		h := get("paths", "/v1/items", "post", "responses", status, "headers").(map[string]any)
		for _, name := range []string{"RateLimit", "RateLimit-Policy", "Idempotent-Replayed", "X-Request-Id"} {
			if _, ok := h[name]; !ok {
				t.Errorf("POST /v1/items %s has no %s header", status, name)
			}
		}
	}
	if _, ok := get("paths", "/v1/items", "post", "responses", "429", "headers").(map[string]any)["Retry-After"]; !ok {
		t.Error("429 has no Retry-After")
	}
	if _, ok := get("paths", "/v1/items", "post", "responses", "401", "headers").(map[string]any)["WWW-Authenticate"]; !ok {
		t.Error("401 has no WWW-Authenticate")
	}
	if got := get("paths", "/v1/items", "post", "responses", "400", "content", "application/problem+json", "schema", "$ref"); got != "#/components/schemas/InvalidRequestProblem" {
		t.Errorf("problem+json: got %v", got)
	}
	desc := get("paths", "/v1/items", "post", "description").(string)
	for _, s := range []string{"Requires the scope items:write.", `RateLimit-Policy "default";q=20;w=2`, "At most 2 requests in flight"} {
		if !strings.Contains(desc, s) {
			t.Errorf("description %q lacks %q", desc, s)
		}
	}
	if got := get("paths", "/healthz", "get", "operationId"); got != "getHealthz" {
		t.Errorf("derived operationId: got %v", got)
	}
}

// TestCheck: the document must list exactly the routes served.
func TestCheck(t *testing.T) {
	a := api(t)
	served := []string{"GET /healthz", "GET /v1/items", "POST /v1/items", "GET /v1/items/{id}", "HEAD /v1/items"}
	if err := a.Check(served); err != nil {
		t.Errorf("got %v for the served routes", err)
	}
	if err := a.Check([]string{"GET /v1/items/:id", "get /healthz", "GET /v1/items", "POST /v1/items"}); err != nil {
		t.Errorf("another router's spelling: got %v", err)
	}
	err := a.Check([]string{"GET /healthz", "GET /v1/items", "GET /v1/items/{id}", "DELETE /v1/items/{id}"})
	if err == nil || !strings.Contains(err.Error(), "DELETE /v1/items/{id} is served but not documented") ||
		!strings.Contains(err.Error(), "POST /v1/items is documented but not served") {
		t.Errorf("got %v, want both differences named", err)
	}
}

type describeFunc func(op *openapi.Operation)

func (f describeFunc) Describe(op *openapi.Operation) { f(op) }

// TestBuildErrors: what cannot be documented is an error, not a document.
func TestBuildErrors(t *testing.T) {
	ok := []openapi.Response{{Status: 204}}
	for _, tc := range []struct {
		name   string
		routes []openapi.Route
		want   string
	}{
		{"twice", []openapi.Route{{Method: "GET", Path: "/a", Responses: ok}, {Method: "get", Path: "/a", Responses: ok}}, "listed twice"},
		{"no path", []openapi.Route{{Method: "GET", Path: "a", Responses: ok}}, "starting with /"},
		{"no method", []openapi.Route{{Path: "/a", Responses: ok}}, "want a method"},
		{"odd method", []openapi.Route{{Method: "PROPFIND", Path: "/a", Responses: ok}}, "no PROPFIND operation"},
		{"unknown code", []openapi.Route{{Method: "GET", Path: "/a", Errors: []errorsx.Code{"slow_down"}}}, `code "slow_down"`},
		{"no responses", []openapi.Route{{Method: "GET", Path: "/a"}}, "no response described"},
		{"bad extension", []openapi.Route{{Method: "GET", Path: "/a", Responses: ok,
			Guards: []openapi.Describer{describeFunc(func(op *openapi.Operation) { op.Extension("scopes", 1) })}}}, `extension "scopes"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := (&openapi.API{Routes: tc.routes}).JSON()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// TestOperationMethods: what the describers add merges as documented.
func TestOperationMethods(t *testing.T) {
	op := &openapi.Operation{Method: http.MethodPost, Path: "/x"}
	op.Errors(errorsx.CodeRateLimitExceeded, errorsx.CodeInvalidRequest, errorsx.CodeRateLimitExceeded)
	op.Respond(openapi.Response{Status: 200}, openapi.Response{Status: 201}, openapi.Response{Status: 200, Description: "again"})
	if got := fmt.Sprint(op.Statuses()); got != "[200 201 400 429]" {
		t.Errorf("Statuses: got %s", got)
	}
	if got := fmt.Sprint(op.Codes()); got != "[rate_limit_exceeded invalid_request]" {
		t.Errorf("Codes: got %s", got)
	}
}

// BenchmarkDocument builds the document of a small API with every guard.
func BenchmarkDocument(b *testing.B) {
	a := api(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.JSON(); err != nil {
			b.Fatal(err)
		}
	}
}
