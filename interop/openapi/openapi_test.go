// Package openapi_test checks apiguard's OpenAPI documents with an
// independent validator, github.com/getkin/kin-openapi (v0.153.0 validates
// OpenAPI 3.1: its loader reads 3.1 documents and checks their schemas as
// JSON Schema 2020-12, through santhosh-tekuri/jsonschema): errorsx.OpenAPI's
// components are valid, every body and header that errorsx.Renderer renders
// for every row matches the response object documented for that row, and so
// does every golden error body committed in testdata/golden; and the
// reference server's GET /openapi.json (openapi.API, server_test.go) is
// valid, and every answer of a scripted session reaching every row validates
// against its operation, on every door — there also with
// github.com/pb33f/libopenapi-validator, as a second opinion.
package openapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/middleware/echo4"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
)

// goldenDir holds one golden error response per row, written by the
// errorsx tests.
const goldenDir = "../../testdata/golden"

// committedDoc is the document of the zero HandlerConfig.
const committedDoc = "../../testdata/openapi.json"

// configs are the renderer configurations whose documents are checked.
var configs = []struct {
	name string
	cfg  errorsx.OpenAPIConfig
}{
	{"default", errorsx.OpenAPIConfig{}},
	{"problem+json and Request-Id", errorsx.OpenAPIConfig{
		HandlerConfig: errorsx.HandlerConfig{ProblemJSON: true, ProblemTypeBase: "https://errors.example.com/", Realm: "clipia"},
		SendRequestID: true,
	}},
}

// loadDoc parses and validates an OpenAPI document with kin-openapi.
func loadDoc(t *testing.T, data []byte) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatalf("kin-openapi cannot load the document: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("got openapi %q, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("kin-openapi finds the document invalid: %v", err)
	}
	return doc
}

func TestDocumentIsValidOpenAPI31(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			doc := loadDoc(t, errorsx.OpenAPI(c.cfg))
			rows := errorsx.Rows()
			var gotResponses []string
			for name, r := range doc.Components.Responses {
				if code, ok := r.Value.Extensions["x-apiguard-code"]; ok {
					gotResponses = append(gotResponses, code.(string))
				} else {
					gotResponses = append(gotResponses, name)
				}
			}
			slices.Sort(gotResponses)
			var want []string
			for _, r := range rows {
				want = append(want, string(r.Code))
			}
			want = append(want, "Conflict")
			slices.Sort(want)
			if !slices.Equal(gotResponses, want) {
				t.Errorf("got responses %v, want one per row plus Conflict: %v", gotResponses, want)
			}
		})
	}
}

func TestCommittedDocumentIsCurrentAndValid(t *testing.T) {
	data, err := os.ReadFile(committedDoc)
	if err != nil {
		t.Fatalf("reading %s: %v (regenerate it: go test ./errorsx -run OpenAPI -update)", committedDoc, err)
	}
	if want := errorsx.OpenAPI(errorsx.OpenAPIConfig{}); !bytes.Equal(data, want) {
		t.Errorf("%s differs from errorsx.OpenAPI(OpenAPIConfig{}); regenerate it: go test ./errorsx -run OpenAPI -update", committedDoc)
	}
	loadDoc(t, data)
}

// routed is a document with one operation per row, GET /rows/{code},
// whose only response is the row's response object, and GET /status/409
// answering with the shared Conflict response: what an API author writes
// when referring to the components.
type routed struct {
	doc    *openapi3.T
	byCode map[errorsx.Code]*routers.Route
	status map[int]*routers.Route
}

func routedDoc(t *testing.T, cfg errorsx.OpenAPIConfig) *routed {
	t.Helper()
	var raw map[string]any
	if err := json.Unmarshal(errorsx.OpenAPI(cfg), &raw); err != nil {
		t.Fatal(err)
	}
	responses := raw["components"].(map[string]any)["responses"].(map[string]any)
	nameOf := map[string]string{}
	for name, r := range responses {
		if code, ok := r.(map[string]any)["x-apiguard-code"].(string); ok {
			nameOf[code] = name
		}
	}
	paths := map[string]any{}
	for _, r := range errorsx.Rows() {
		name, ok := nameOf[string(r.Code)]
		if !ok {
			t.Fatalf("no response object has x-apiguard-code %q", r.Code)
		}
		paths["/rows/"+string(r.Code)] = map[string]any{"get": map[string]any{
			"operationId": string(r.Code),
			"responses": map[string]any{
				strconv.Itoa(r.Status): map[string]any{"$ref": "#/components/responses/" + name},
			},
		}}
	}
	paths["/status/409"] = map[string]any{"get": map[string]any{
		"operationId": "conflict",
		"responses": map[string]any{
			"409": map[string]any{"$ref": "#/components/responses/Conflict"},
		},
	}}
	raw["paths"] = paths
	data, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	doc := loadDoc(t, data)
	out := &routed{doc: doc, byCode: map[errorsx.Code]*routers.Route{}, status: map[int]*routers.Route{}}
	for path, item := range doc.Paths.Map() {
		route := &routers.Route{Spec: doc, Path: path, PathItem: item, Method: http.MethodGet, Operation: item.Get}
		if code, ok := strings.CutPrefix(path, "/rows/"); ok {
			out.byCode[errorsx.Code(code)] = route
		} else {
			out.status[409] = route
		}
	}
	return out
}

// validate checks a response against the operation of route.
func validate(route *routers.Route, status int, h http.Header, body []byte) error {
	req := httptest.NewRequest(http.MethodGet, route.Path, nil)
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, Route: route},
		Status:                 status,
		Header:                 h,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(context.Background(), in)
}

// server is an Echo app with the real renderer whose GET /rows/:code
// returns errorsx.New(code), with the message, param and Retry-After given
// in the query.
func server(t *testing.T, doc errorsx.OpenAPIConfig) *httptest.Server {
	t.Helper()
	cfg := doc.HandlerConfig
	cfg.Logger = slog.New(slog.DiscardHandler)
	e := echo.New()
	echo4.Install(e, echo4.Config{Errors: cfg, Use: []guard.Guard{guard.RequestID(guard.RequestIDConfig{SendRequestID: doc.SendRequestID})}})
	e.GET("/rows/:code", func(c echo.Context) error {
		err := errorsx.New(errorsx.Code(c.Param("code")))
		if m := c.QueryParam("message"); m != "" {
			err = err.WithMessage(m)
		}
		if p := c.QueryParam("param"); p != "" {
			err = err.WithParam(p)
		}
		if w := c.QueryParam("wait"); w != "" {
			d, perr := time.ParseDuration(w)
			if perr != nil {
				return perr
			}
			err = err.WithRetryAfter(d)
		}
		return err
	})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

type rendered struct {
	status int
	header http.Header
	body   []byte
}

func get(t *testing.T, url string, header http.Header) rendered {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rendered{res.StatusCode, res.Header, body}
}

func TestRenderedResponsesMatchTheirRow(t *testing.T) {
	variants := []struct {
		name  string
		query url.Values
	}{
		{"default message", nil},
		{"message, param and wait", url.Values{
			"message": {`duration must be at most 60 <"quoted"> & ünïcode`},
			"param":   {"input.duration"},
			"wait":    {"1500ms"},
		}},
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			rd := routedDoc(t, c.cfg)
			srv := server(t, c.cfg)
			accepts := []string{"application/json"}
			if c.cfg.ProblemJSON {
				accepts = append(accepts, "application/problem+json")
			}
			for _, row := range errorsx.Rows() {
				for _, v := range variants {
					for _, accept := range accepts {
						t.Run(string(row.Code)+"/"+v.name+"/"+accept, func(t *testing.T) {
							got := get(t, srv.URL+"/rows/"+string(row.Code)+"?"+v.query.Encode(),
								http.Header{"Accept": {accept}})
							if got.status != row.Status {
								t.Fatalf("got status %d, want %d", got.status, row.Status)
							}
							if err := validate(rd.byCode[row.Code], got.status, got.header, got.body); err != nil {
								t.Errorf("response of row %s does not match its response object: %v\nbody: %s", row.Code, err, got.body)
							}
							if row.Status == http.StatusConflict {
								if err := validate(rd.status[409], got.status, got.header, got.body); err != nil {
									t.Errorf("409 %s does not match the shared Conflict response: %v", row.Code, err)
								}
							}
						})
					}
				}
			}
		})
	}
}

// TestValidationCanFail shows that the checks above have teeth: responses
// that break the contract in one way each are rejected.
func TestValidationCanFail(t *testing.T) {
	cfg := errorsx.OpenAPIConfig{HandlerConfig: errorsx.HandlerConfig{ProblemJSON: true}}
	rd := routedDoc(t, cfg)
	srv := server(t, cfg)
	ok := get(t, srv.URL+"/rows/rate_limit_exceeded", nil)
	if err := validate(rd.byCode[errorsx.CodeRateLimitExceeded], ok.status, ok.header, ok.body); err != nil {
		t.Fatalf("the unmodified response fails: %v", err)
	}
	okProblem := get(t, srv.URL+"/rows/not_found", http.Header{"Accept": {"application/problem+json"}})
	withHeader := func(h http.Header, k, v string) http.Header {
		h = h.Clone()
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
		return h
	}
	cases := []struct {
		name   string
		code   errorsx.Code
		status int
		header http.Header
		body   string
	}{
		{"extra member in error", errorsx.CodeRateLimitExceeded, 429, ok.header,
			`{"error":{"type":"rate_limit_error","code":"rate_limit_exceeded","message":"m","request_id":"x"}}`},
		{"extra top-level member", errorsx.CodeRateLimitExceeded, 429, ok.header,
			`{"error":{"type":"rate_limit_error","code":"rate_limit_exceeded","message":"m"},"status":429}`},
		{"code of another row", errorsx.CodeRateLimitExceeded, 429, ok.header,
			`{"error":{"type":"rate_limit_error","code":"service_unavailable","message":"m"}}`},
		{"type of another row", errorsx.CodeRateLimitExceeded, 429, ok.header,
			`{"error":{"type":"api_error","code":"rate_limit_exceeded","message":"m"}}`},
		{"unknown code", errorsx.CodeRateLimitExceeded, 429, ok.header,
			`{"error":{"type":"rate_limit_error","code":"slow_down","message":"m"}}`},
		{"missing message", errorsx.CodeRateLimitExceeded, 429, ok.header,
			`{"error":{"type":"rate_limit_error","code":"rate_limit_exceeded"}}`},
		{"empty message", errorsx.CodeRateLimitExceeded, 429, ok.header,
			`{"error":{"type":"rate_limit_error","code":"rate_limit_exceeded","message":""}}`},
		{"empty param", errorsx.CodeRateLimitExceeded, 429, ok.header,
			`{"error":{"type":"rate_limit_error","code":"rate_limit_exceeded","message":"m","param":""}}`},
		{"bare error object", errorsx.CodeRateLimitExceeded, 429, ok.header,
			`{"type":"rate_limit_error","code":"rate_limit_exceeded","message":"m"}`},
		{"no Retry-After on 429", errorsx.CodeRateLimitExceeded, 429,
			withHeader(ok.header, "Retry-After", ""), string(ok.body)},
		{"Retry-After zero", errorsx.CodeRateLimitExceeded, 429,
			withHeader(ok.header, "Retry-After", "0"), string(ok.body)},
		{"X-Should-Retry false on a retryable row", errorsx.CodeRateLimitExceeded, 429,
			withHeader(ok.header, "X-Should-Retry", "false"), string(ok.body)},
		{"no X-Should-Retry", errorsx.CodeRateLimitExceeded, 429,
			withHeader(ok.header, "X-Should-Retry", ""), string(ok.body)},
		{"no X-Request-Id", errorsx.CodeRateLimitExceeded, 429,
			withHeader(ok.header, "X-Request-Id", ""), string(ok.body)},
		{"text/html", errorsx.CodeRateLimitExceeded, 429,
			withHeader(ok.header, "Content-Type", "text/html"), "<html>busy</html>"},
		{"problem with wrong status", errorsx.CodeNotFound, 404, okProblem.header,
			strings.Replace(string(okProblem.body), `"status":404`, `"status":400`, 1)},
		{"problem without code", errorsx.CodeNotFound, 404, okProblem.header,
			`{"type":"urn:apiguard:error:not_found","title":"Not found","status":404,"detail":"d"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := validate(rd.byCode[tc.code], tc.status, tc.header, []byte(tc.body))
			t.Logf("rejected: %v", err)
			if err == nil {
				t.Errorf("got no validation error, want one for %s", tc.body)
			}
		})
	}
}

// golden is one error response read from testdata/golden.
type golden struct {
	status int         // 0 when the file does not say
	header http.Header // nil when the file has no headers
	body   []byte
}

// readGolden reads a golden file in any of the forms a golden response is
// naturally kept in: a raw HTTP response ("HTTP 429" or "HTTP/1.1 429 Too
// Many Requests", header lines, a blank line, the body); header lines, a
// blank line and the body; a JSON object with "body" (object or string) and
// optional "status" and "headers"; or the bare body.
func readGolden(data []byte) (golden, bool) {
	var g golden
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var obj map[string]json.RawMessage
		if json.Unmarshal(trimmed, &obj) != nil {
			return g, false
		}
		b, hasBody := obj["body"]
		if !hasBody {
			g.body = trimmed // the body itself: an envelope or a problem document
			return g, true
		}
		var s string
		if json.Unmarshal(b, &s) == nil {
			g.body = []byte(s)
		} else {
			g.body = b
		}
		_ = json.Unmarshal(obj["status"], &g.status)
		if hs, ok := obj["headers"]; ok {
			g.header = http.Header{}
			var multi map[string][]string
			var single map[string]string
			switch {
			case json.Unmarshal(hs, &single) == nil:
				for k, v := range single {
					g.header.Set(k, v)
				}
			case json.Unmarshal(hs, &multi) == nil:
				for k, vs := range multi {
					for _, v := range vs {
						g.header.Add(k, v)
					}
				}
			}
		}
		return g, len(bytes.TrimSpace(g.body)) > 0
	}
	norm := bytes.ReplaceAll(trimmed, []byte("\r\n"), []byte("\n"))
	head, body, found := bytes.Cut(norm, []byte("\n\n"))
	if !found {
		return g, false
	}
	g.header = http.Header{}
	for i, line := range strings.Split(string(head), "\n") {
		if f := strings.Fields(line); i == 0 && len(f) >= 2 && strings.HasPrefix(f[0], "HTTP") {
			g.status, _ = strconv.Atoi(f[1])
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			g.header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	g.body = bytes.TrimSpace(body)
	return g, len(g.body) > 0
}

// goldenConfig is the renderer configuration the goldens are written with:
// they carry Request-Id, and one of them is a problem document.
var goldenConfig = errorsx.OpenAPIConfig{HandlerConfig: errorsx.HandlerConfig{ProblemJSON: true}, SendRequestID: true}

func TestGoldenBodiesMatchTheSchema(t *testing.T) {
	var files []string
	err := filepath.WalkDir(goldenDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
			files = append(files, path)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s does not exist yet; TestRenderedResponsesMatchTheirRow covers every row meanwhile", goldenDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("%s holds no golden files", goldenDir)
	}
	rd := routedDoc(t, goldenConfig)
	schemas := rd.doc.Components.Schemas
	opts := []openapi3.SchemaValidationOption{openapi3.EnableJSONSchema2020(), openapi3.VisitAsResponse()}
	seen := map[errorsx.Code]bool{}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			g, ok := readGolden(data)
			if !ok {
				t.Fatalf("no error body found in %s:\n%s", file, data)
			}
			var value map[string]any
			if err := json.Unmarshal(g.body, &value); err != nil {
				t.Fatalf("body is not a JSON object: %v\n%s", err, g.body)
			}
			// The envelope, else a problem document (it has no "error").
			generic, suffix := "Error", "Error"
			code, _ := value["code"].(string)
			if envelope, ok := value["error"].(map[string]any); ok {
				code, _ = envelope["code"].(string)
			} else {
				generic, suffix = "Problem", "Problem"
			}
			if err := rd.doc.ValidateSchemaJSON(schemas[generic].Value, value, opts...); err != nil {
				t.Fatalf("body does not match schema %s: %v\n%s", generic, err, g.body)
			}
			row, ok := errorsx.Lookup(errorsx.Code(code))
			if !ok {
				t.Fatalf("code %q is not in the catalogue", code)
			}
			seen[row.Code] = true
			name := strings.TrimSuffix(schemaNameOf(t, rd.doc, row.Code), "Error")
			if err := rd.doc.ValidateSchemaJSON(schemas[name+suffix].Value, value, opts...); err != nil {
				t.Errorf("body does not match the schema of row %s: %v\n%s", row.Code, err, g.body)
			}
			if g.status == 0 || g.header == nil {
				return // a bare body: nothing more to check
			}
			// The whole response against the row's response object:
			// status, headers, Content-Type and body.
			if g.status != row.Status {
				t.Errorf("got status %d, want %d for %s", g.status, row.Status, row.Code)
			}
			if err := validate(rd.byCode[row.Code], g.status, g.header, g.body); err != nil {
				t.Errorf("response does not match the response object of row %s: %v", row.Code, err)
			}
		})
	}
	for _, r := range errorsx.Rows() {
		if !seen[r.Code] {
			t.Errorf("no golden body for row %d %s", r.Status, r.Code)
		}
	}
}

// schemaNameOf returns the name of the per-row envelope schema: the one
// whose allOf refers to Error and whose code is pinned to code.
func schemaNameOf(t *testing.T, doc *openapi3.T, code errorsx.Code) string {
	t.Helper()
	for name, s := range doc.Components.Schemas {
		e, ok := s.Value.Properties["error"]
		if !ok || e.Value == nil || len(s.Value.AllOf) == 0 {
			continue
		}
		if c, ok := e.Value.Properties["code"]; ok && c.Value != nil && c.Value.Const == string(code) {
			return name
		}
	}
	t.Fatalf("no schema pins code %q", code)
	return ""
}
