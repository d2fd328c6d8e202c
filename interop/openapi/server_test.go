package openapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/clipia/apiguard/examples/server/app"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/pb33f/libopenapi"
	libvalidator "github.com/pb33f/libopenapi-validator"
)

// referenceServer starts the reference server in process on door fw;
// change adjusts the flags' defaults. Generations whose prompt is "hold"
// signal started, then run until release is called (or the request ends).
func referenceServer(t *testing.T, fw string, change func(*app.Config)) (url string, started <-chan struct{}, release func()) {
	t.Helper()
	cfg, err := app.ParseConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Framework = fw
	hold, start := make(chan struct{}), make(chan struct{}, 8)
	var once sync.Once
	release = func() { once.Do(func() { close(hold) }) }
	cfg.Generate = func(ctx context.Context, prompt string) error {
		if prompt != "hold" {
			return nil
		}
		start <- struct{}{}
		select {
		case <-hold:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if change != nil {
		change(&cfg)
	}
	a, err := app.New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() { release(); srv.Close(); _ = a.Close() })
	return srv.URL, start, release
}

// validators are the reference server's document, loaded by both
// validators.
type validators struct {
	kin routers.Router
	lib libvalidator.Validator
}

// serverDoc fetches GET /openapi.json and validates it as OpenAPI 3.1
// with kin-openapi (schemas checked as JSON Schema 2020-12, examples
// against their schemas) and with libopenapi-validator (against the
// OpenAPI 3.1 specification's own schema).
func serverDoc(t *testing.T, base string) validators {
	t.Helper()
	res, err := http.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json: got %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatalf("kin-openapi cannot load the document: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("got openapi %q, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background(), openapi3.IsOpenAPI31OrLater(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("kin-openapi finds the document invalid: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	lib, err := libopenapi.NewDocument(data)
	if err != nil {
		t.Fatalf("libopenapi cannot load the document: %v", err)
	}
	v, errs := libvalidator.NewValidator(lib)
	if len(errs) > 0 {
		t.Fatalf("libopenapi-validator: %v", errs)
	}
	if ok, errs := v.ValidateDocument(); !ok {
		for _, e := range errs {
			t.Errorf("libopenapi-validator finds the document invalid: %s: %s", e.Message, e.Reason)
		}
		t.FailNow()
	}
	return validators{kin: router, lib: v}
}

// step is one request of the scripted session and the status it must get.
type step struct {
	name   string
	method string
	path   string
	key    string
	body   string
	header map[string]string
	status int
	code   string // the error code, "" for a success
}

func (s step) send(t *testing.T, base string) (*http.Request, *http.Response, []byte) {
	t.Helper()
	method := s.method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if s.body != "" {
		body = strings.NewReader(s.body)
	}
	r, err := http.NewRequest(method, base+s.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if s.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if s.key != "" {
		r.Header.Set("Authorization", "Bearer "+s.key)
	}
	for k, v := range s.header {
		r.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return r, res, data
}

// check validates one exchange against the operation the document lists
// for it: the status must be listed (IncludeResponseStatus), and headers,
// Content-Type and body must match the response object. A request that
// succeeded must match the operation's parameters and body too.
func check(t *testing.T, vs validators, req *http.Request, res *http.Response, body []byte) {
	t.Helper()
	router := vs.kin
	probe := req.Clone(context.Background())
	probe.URL.Host, probe.URL.Scheme, probe.Host = "", "", ""
	route, pathParams, err := router.FindRoute(probe)
	if err != nil {
		t.Fatalf("%s %s: no operation in the document: %v", req.Method, req.URL.Path, err)
	}
	in := &openapi3filter.RequestValidationInput{
		Request: probe, PathParams: pathParams, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	}
	if res.StatusCode < 300 && req.Body != nil {
		// The body was sent; give the validator its copy.
		if req.GetBody != nil {
			b, _ := req.GetBody()
			probe.Body = b
		}
	}
	if res.StatusCode < 300 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("%s %s: the request that succeeded does not match its operation: %v", req.Method, req.URL.Path, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s %s → %d does not match its operation: %v\nbody: %s", req.Method, req.URL.Path, res.StatusCode, err, body)
	}
	// The second opinion: libopenapi-validator.
	libRes := *res
	libRes.Body = io.NopCloser(bytes.NewReader(body))
	if ok, errs := vs.lib.ValidateHttpResponse(probe, &libRes); !ok {
		for _, e := range errs {
			t.Errorf("%s %s → %d: libopenapi-validator: %s: %s", req.Method, req.URL.Path, res.StatusCode, e.Message, e.Reason)
		}
	}
}

// TestReferenceServerDocument: on every door, the reference server's
// document is valid OpenAPI 3.1, and a scripted session that reaches every
// row of the table, and every route's success, gets only responses that
// validate against their operation: status listed, headers, Content-Type
// and body as documented, in JSON and in problem+json.
func TestReferenceServerDocument(t *testing.T) {
	for _, fw := range app.Frameworks() {
		t.Run(fw, func(t *testing.T) {
			t.Parallel()
			base, started, release := referenceServer(t, fw, nil)
			router := serverDoc(t, base)
			const gen = `{"model":"clipia-fast","prompt":"a red fox","duration":2}`
			var genID string
			steps := []step{
				{name: "health", path: "/healthz", status: 200},
				{name: "metrics", path: "/metrics", status: 200},
				{name: "document", path: "/openapi.json", status: 200},
				{name: "models", path: "/v1/models", key: "sk_test_full", status: 200},
				{name: "model", path: "/v1/models/clipia-pro", key: "sk_test_full", status: 200},
				{name: "balance", path: "/v1/balance", key: "sk_test_full", status: 200},
				{name: "create", method: "POST", path: "/v1/generations", key: "sk_test_full", body: gen,
					header: map[string]string{"Idempotency-Key": "k-1"}, status: 201},
				{name: "replay", method: "POST", path: "/v1/generations", key: "sk_test_full", body: gen,
					header: map[string]string{"Idempotency-Key": "k-1"}, status: 201},
				{name: "generation", path: "/v1/generations/{gen}", key: "sk_test_full", status: 200},
				{name: "400 body", method: "POST", path: "/v1/generations", key: "sk_test_full", body: `{"model":"clipia-fast"}`, status: 400, code: "invalid_request"},
				{name: "400 unknown field", method: "POST", path: "/v1/generations", key: "sk_test_full", body: `{"model":"clipia-fast","prompt":"x","colour":"red"}`, status: 400, code: "invalid_request"},
				{name: "400 headers", path: "/v1/models", key: "sk_test_full", header: map[string]string{"X-Big": strings.Repeat("a", 17<<10)}, status: 400, code: "invalid_request"},
				{name: "401", path: "/v1/models", status: 401, code: "invalid_api_key"},
				{name: "401 bad key", path: "/v1/balance", key: "sk_test_nope", status: 401, code: "invalid_api_key"},
				{name: "401 problem", path: "/v1/models", header: map[string]string{"Accept": "application/problem+json"}, status: 401, code: "invalid_api_key"},
				{name: "402", method: "POST", path: "/v1/generations", key: "sk_test_nocredits", body: gen, status: 402, code: "insufficient_credits"},
				{name: "403", method: "POST", path: "/v1/generations", key: "sk_test_readonly", body: gen, status: 403, code: "insufficient_scope"},
				{name: "404 model", path: "/v1/models/clipia-x", key: "sk_test_full", status: 404, code: "not_found"},
				{name: "404 generation", path: "/v1/generations/gen_nope", key: "sk_test_full", status: 404, code: "not_found"},
				{name: "404 unknown model", method: "POST", path: "/v1/generations", key: "sk_test_full", body: `{"model":"clipia-x","prompt":"x"}`, status: 404, code: "not_found"},
				{name: "404 problem", path: "/v1/models/clipia-x", key: "sk_test_full", header: map[string]string{"Accept": "application/problem+json"}, status: 404, code: "not_found"},
				{name: "409 reuse", method: "POST", path: "/v1/generations", key: "sk_test_full", body: `{"model":"clipia-fast","prompt":"another"}`,
					header: map[string]string{"Idempotency-Key": "k-1"}, status: 409, code: "idempotency_key_reuse"},
				{name: "422", method: "POST", path: "/v1/generations", key: "sk_test_full", body: `{"model":"clipia-fast","prompt":"x","duration":100}`, status: 422, code: "model_input_invalid"},
				{name: "500", method: "POST", path: "/v1/generations", key: "sk_test_full", body: `{"model":"clipia-faulty","prompt":"x"}`, status: 500, code: "internal_error"},
				{name: "503", method: "POST", path: "/v1/generations", key: "sk_test_full", body: `{"model":"clipia-maintenance","prompt":"x"}`, status: 503, code: "service_unavailable"},
				{name: "503 problem", method: "POST", path: "/v1/generations", key: "sk_test_full", body: `{"model":"clipia-maintenance","prompt":"x"}`,
					header: map[string]string{"Accept": "application/problem+json"}, status: 503, code: "service_unavailable"},
			}
			for _, s := range steps {
				s.path = strings.ReplaceAll(s.path, "{gen}", genID)
				req, res, body := s.send(t, base)
				if res.StatusCode != s.status || (s.code != "" && !bytes.Contains(body, []byte(`"code":"`+s.code+`"`))) {
					t.Fatalf("%s: got %d %s, want %d %s", s.name, res.StatusCode, body, s.status, s.code)
				}
				if s.name == "create" {
					genID = string(body[bytes.Index(body, []byte(`"id":"`))+6:])
					genID = genID[:strings.IndexByte(genID, '"')]
				}
				if s.name == "replay" && res.Header.Get("Idempotent-Replayed") != "true" {
					t.Errorf("replay: no Idempotent-Replayed: true")
				}
				check(t, router, req, res, body)
			}

			// 409 request_in_progress: the same key while the first runs.
			held := step{method: "POST", path: "/v1/generations", key: "sk_test_other", body: `{"model":"clipia-fast","prompt":"hold"}`,
				header: map[string]string{"Idempotency-Key": "k-hold"}}
			done := make(chan struct{})
			go func() {
				defer close(done)
				r, _ := http.NewRequest(http.MethodPost, base+held.path, strings.NewReader(held.body))
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("Authorization", "Bearer "+held.key)
				r.Header.Set("Idempotency-Key", "k-hold")
				if res, err := http.DefaultClient.Do(r); err == nil {
					res.Body.Close()
				}
			}()
			<-started // the first holds the key now
			req, res, body := held.send(t, base)
			if res.StatusCode != http.StatusConflict || !bytes.Contains(body, []byte(`"code":"request_in_progress"`)) {
				t.Fatalf("got %d %s, want 409 request_in_progress", res.StatusCode, body)
			}
			check(t, router, req, res, body)
			release()
			<-done
		})
	}
}

// TestReferenceServerDocument429 covers the rate limit's 429 with
// Retry-After and RateLimit headers, on a server of one token per caller,
// and 503 when the limit fails closed is listed where it runs.
func TestReferenceServerDocument429(t *testing.T) {
	for _, fw := range app.Frameworks() {
		t.Run(fw, func(t *testing.T) {
			t.Parallel()
			base, _, _ := referenceServer(t, fw, func(c *app.Config) { c.Rate, c.Burst = 0.001, 1 })
			router := serverDoc(t, base)
			s := step{path: "/v1/models", key: "sk_test_full"}
			var got []int
			for range 2 {
				req, res, body := s.send(t, base)
				got = append(got, res.StatusCode)
				if res.StatusCode == 429 && res.Header.Get("Retry-After") == "" {
					t.Error("429 without Retry-After")
				}
				if res.Header.Get("RateLimit") == "" || res.Header.Get("RateLimit-Policy") == "" {
					t.Errorf("%d without RateLimit headers", res.StatusCode)
				}
				check(t, router, req, res, body)
			}
			if !slices.Equal(got, []int{200, 429}) {
				t.Errorf("got %v, want 200 then 429", got)
			}
		})
	}
}

// TestReferenceServerDocumentHasTeeth: the check above fails for an
// answer the document does not list, or one missing a documented header.
func TestReferenceServerDocumentHasTeeth(t *testing.T) {
	base, _, _ := referenceServer(t, app.FrameworkEcho4, nil)
	router := serverDoc(t, base)
	req, res, body := step{path: "/v1/models", key: "sk_test_full"}.send(t, base)
	validateAs := func(status int, h http.Header, body []byte) error {
		probe := req.Clone(context.Background())
		probe.URL.Host, probe.URL.Scheme, probe.Host = "", "", ""
		route, params, err := router.kin.FindRoute(probe)
		if err != nil {
			t.Fatal(err)
		}
		out := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route},
			Status:                 status, Header: h,
			Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		}
		out.SetBodyBytes(body)
		return openapi3filter.ValidateResponse(context.Background(), out)
	}
	if err := validateAs(res.StatusCode, res.Header, body); err != nil {
		t.Fatalf("the real answer fails: %v", err)
	}
	noID := res.Header.Clone()
	noID.Del("X-Request-Id")
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		body   string
	}{
		{"402 on GET /v1/models", 402, res.Header, `{"error":{"type":"invalid_request_error","code":"insufficient_credits","message":"m"}}`},
		{"409 on GET /v1/models", 409, res.Header, `{"error":{"type":"idempotency_error","code":"idempotency_key_reuse","message":"m"}}`},
		{"200 without X-Request-Id", 200, noID, string(body)},
		{"200 with another body", 200, res.Header, `{"models":[]}`},
	} {
		if err := validateAs(tc.status, tc.header, []byte(tc.body)); err == nil {
			t.Errorf("%s: validates, want an error", tc.name)
		}
		probe := req.Clone(context.Background())
		probe.URL.Host, probe.URL.Scheme, probe.Host = "", "", ""
		fake := &http.Response{StatusCode: tc.status, Header: tc.header, Body: io.NopCloser(strings.NewReader(tc.body)), Request: probe}
		if ok, _ := router.lib.ValidateHttpResponse(probe, fake); ok {
			t.Errorf("%s: libopenapi-validator accepts it, want an error", tc.name)
		}
	}
}
