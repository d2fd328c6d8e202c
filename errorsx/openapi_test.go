package errorsx_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/middleware/echo4"
	"github.com/labstack/echo/v4"
)

// openAPIFile is the committed document of the zero HandlerConfig.
const openAPIFile = "../testdata/openapi.json"

func init() {
	// -update rewrites the committed files; golden_test.go may define the
	// flag already (package-level vars initialise before init runs).
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the committed files in testdata")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// TestOpenAPICommittedFile keeps testdata/openapi.json identical to
// OpenAPI(HandlerConfig{}). Run with -update after a deliberate change.
func TestOpenAPICommittedFile(t *testing.T) {
	got := errorsx.OpenAPI(errorsx.OpenAPIConfig{})
	if updating() {
		if err := os.WriteFile(openAPIFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatalf("reading %s: %v (create it with go test ./errorsx -run OpenAPI -update)", openAPIFile, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("OpenAPI(HandlerConfig{}) differs from %s; if the change is deliberate, run go test ./errorsx -run OpenAPI -update\n%s",
			openAPIFile, firstDiff(got, want))
	}
}

func firstDiff(got, want []byte) string {
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(gl), len(wl)); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, g, w)
		}
	}
	return ""
}

func TestOpenAPIIsDeterministicJSON(t *testing.T) {
	cfg := errorsx.OpenAPIConfig{HandlerConfig: errorsx.HandlerConfig{ProblemJSON: true}, SendRequestID: true}
	a, b := errorsx.OpenAPI(cfg), errorsx.OpenAPI(cfg)
	if !bytes.Equal(a, b) {
		t.Fatal("got two different documents from the same config")
	}
	if !json.Valid(a) {
		t.Fatal("the document is not valid JSON")
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal(a, &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Errorf("got openapi %q (%v), want 3.1.0", doc.OpenAPI, err)
	}
}

// oaDoc is the part of the document the tests look at.
type oaDoc struct {
	Components struct {
		Schemas   map[string]map[string]any `json:"schemas"`
		Headers   map[string]map[string]any `json:"headers"`
		Responses map[string]oaResponse     `json:"responses"`
	} `json:"components"`
}

type oaResponse struct {
	Description string                     `json:"description"`
	Headers     map[string]oaHeader        `json:"headers"`
	Content     map[string]json.RawMessage `json:"content"`
	Code        string                     `json:"x-apiguard-code"`
	Retryable   *bool                      `json:"x-apiguard-retryable"`
	Codes       []string                   `json:"x-apiguard-codes"`
}

type oaHeader struct {
	Ref      string         `json:"$ref"`
	Required bool           `json:"required"`
	Schema   map[string]any `json:"schema"`
	Example  string         `json:"example"`
}

type oaMedia struct {
	Schema  map[string]any  `json:"schema"`
	Example json.RawMessage `json:"example"`
}

func decodeOpenAPI(t *testing.T, cfg errorsx.OpenAPIConfig) oaDoc {
	t.Helper()
	var d oaDoc
	if err := json.Unmarshal(errorsx.OpenAPI(cfg), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// responseOf finds the response object of a row by its x-apiguard-code.
func responseOf(t *testing.T, d oaDoc, code errorsx.Code) (string, oaResponse) {
	t.Helper()
	for name, r := range d.Components.Responses {
		if r.Code == string(code) {
			return name, r
		}
	}
	t.Fatalf("no response object for %s", code)
	return "", oaResponse{}
}

func media(t *testing.T, r oaResponse, ct string) oaMedia {
	t.Helper()
	raw, ok := r.Content[ct]
	if !ok {
		t.Fatalf("response has no %s content; has %v", ct, slices.Sorted(maps.Keys(r.Content)))
	}
	var m oaMedia
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestOpenAPIResponsePerRow(t *testing.T) {
	d := decodeOpenAPI(t, errorsx.OpenAPIConfig{})
	wantNames := map[errorsx.Code]string{
		errorsx.CodeInvalidRequest:      "InvalidRequest",
		errorsx.CodeInvalidAPIKey:       "InvalidApiKey",
		errorsx.CodeInsufficientCredits: "InsufficientCredits",
		errorsx.CodeInsufficientScope:   "InsufficientScope",
		errorsx.CodeNotFound:            "NotFound",
		errorsx.CodeIdempotencyKeyReuse: "IdempotencyKeyReuse",
		errorsx.CodeRequestInProgress:   "RequestInProgress",
		errorsx.CodeModelInputInvalid:   "ModelInputInvalid",
		errorsx.CodeRateLimitExceeded:   "RateLimitExceeded",
		errorsx.CodeInternal:            "InternalError",
		errorsx.CodeServiceUnavailable:  "ServiceUnavailable",
	}
	if got, want := len(d.Components.Responses), len(errorsx.Rows())+1; got != want {
		t.Errorf("got %d responses, want %d (one per row and Conflict)", got, want)
	}
	for _, row := range errorsx.Rows() {
		t.Run(string(row.Code), func(t *testing.T) {
			name, r := responseOf(t, d, row.Code)
			if name != wantNames[row.Code] {
				t.Errorf("got response name %q, want %q", name, wantNames[row.Code])
			}
			if r.Retryable == nil || *r.Retryable != row.Retryable {
				t.Errorf("got x-apiguard-retryable %v, want %v", r.Retryable, row.Retryable)
			}
			if !strings.HasPrefix(r.Description, fmt.Sprintf("%d %s: ", row.Status, row.Code)) {
				t.Errorf("got description %q, want it to start with status and code", r.Description)
			}
			if r.Headers[errorsx.HeaderRequestID].Ref != "#/components/headers/X-Request-Id" {
				t.Errorf("got X-Request-Id %+v, want a $ref to the shared header", r.Headers[errorsx.HeaderRequestID])
			}
			sr := r.Headers[errorsx.HeaderShouldRetry]
			if want := fmt.Sprint(row.Retryable); !sr.Required || sr.Schema["const"] != want {
				t.Errorf("got X-Should-Retry %+v, want required with const %q", sr, want)
			}
			ra, hasRA := r.Headers[errorsx.HeaderRetryAfter]
			if hasRA != row.Retryable {
				t.Errorf("got Retry-After documented %v, want %v (the retryable rows)", hasRA, row.Retryable)
			}
			if wantReq := row.Code == errorsx.CodeRateLimitExceeded || row.Code == errorsx.CodeServiceUnavailable; ra.Required != wantReq {
				t.Errorf("got Retry-After required %v, want %v", ra.Required, wantReq)
			}
			wa, hasWA := r.Headers[errorsx.HeaderWWWAuthenticate]
			if hasWA != (row.Status == http.StatusUnauthorized) || (hasWA && !wa.Required) {
				t.Errorf("got WWW-Authenticate %+v (present %v), want it required on 401 only", wa, hasWA)
			}
			if _, ok := r.Content[errorsx.ContentTypeProblem]; ok {
				t.Error("got problem+json content without HandlerConfig.ProblemJSON")
			}
			m := media(t, r, "application/json")
			schemaName := strings.TrimPrefix(m.Schema["$ref"].(string), "#/components/schemas/")
			s, ok := d.Components.Schemas[schemaName]
			if !ok {
				t.Fatalf("schema %s is not in components", schemaName)
			}
			pinned := s["properties"].(map[string]any)["error"].(map[string]any)["properties"].(map[string]any)
			if got := pinned["code"].(map[string]any)["const"]; got != string(row.Code) {
				t.Errorf("got schema %s pinning code %v, want %s", schemaName, got, row.Code)
			}
			if got := pinned["type"].(map[string]any)["const"]; got != row.Type {
				t.Errorf("got schema %s pinning type %v, want %s", schemaName, got, row.Type)
			}
		})
	}
}

func TestOpenAPIConflictCoversBoth409Rows(t *testing.T) {
	d := decodeOpenAPI(t, errorsx.OpenAPIConfig{HandlerConfig: errorsx.HandlerConfig{ProblemJSON: true}})
	r, ok := d.Components.Responses["Conflict"]
	if !ok {
		t.Fatal("no Conflict response")
	}
	want := []string{string(errorsx.CodeIdempotencyKeyReuse), string(errorsx.CodeRequestInProgress)}
	if !slices.Equal(r.Codes, want) {
		t.Errorf("got x-apiguard-codes %v, want %v", r.Codes, want)
	}
	for _, ct := range []string{"application/json", errorsx.ContentTypeProblem} {
		oneOf, _ := media(t, r, ct).Schema["oneOf"].([]any)
		if len(oneOf) != 2 {
			t.Errorf("%s: got oneOf %v, want the two 409 schemas", ct, oneOf)
		}
	}
	if sr := r.Headers[errorsx.HeaderShouldRetry]; !sr.Required || sr.Schema["const"] != nil {
		t.Errorf("got X-Should-Retry %+v, want required and either value", sr)
	}
}

func TestOpenAPIFollowsTheConfig(t *testing.T) {
	cfg := errorsx.OpenAPIConfig{HandlerConfig: errorsx.HandlerConfig{ProblemJSON: true, ProblemTypeBase: "https://docs.example.com/errors/", Realm: `clip"ia`}, SendRequestID: true}
	d := decodeOpenAPI(t, cfg)
	if _, ok := d.Components.Headers[errorsx.HeaderRequestIDStripe]; !ok {
		t.Error("got no Request-Id header component with SendRequestID")
	}
	if _, ok := d.Components.Schemas["Problem"]; !ok {
		t.Error("got no Problem schema with ProblemJSON")
	}
	_, nf := responseOf(t, d, errorsx.CodeNotFound)
	if nf.Headers[errorsx.HeaderRequestIDStripe].Ref == "" {
		t.Error("got no Request-Id on the not_found response with SendRequestID")
	}
	var p map[string]any
	if err := json.Unmarshal(media(t, nf, errorsx.ContentTypeProblem).Example, &p); err != nil {
		t.Fatal(err)
	}
	if got, want := p["type"], "https://docs.example.com/errors/not_found"; got != want {
		t.Errorf("got problem type %v, want %v", got, want)
	}
	_, ak := responseOf(t, d, errorsx.CodeInvalidAPIKey)
	if got, want := ak.Headers[errorsx.HeaderWWWAuthenticate].Example, `Bearer realm="clip\"ia", error="invalid_token"`; got != want {
		t.Errorf("got WWW-Authenticate example %q, want %q", got, want)
	}

	plain := decodeOpenAPI(t, errorsx.OpenAPIConfig{})
	if _, ok := plain.Components.Headers[errorsx.HeaderRequestIDStripe]; ok {
		t.Error("got a Request-Id header component without SendRequestID")
	}
	if _, ok := plain.Components.Schemas["Problem"]; ok {
		t.Error("got a Problem schema without ProblemJSON")
	}
}

// TestOpenAPIExamplesAreWhatTheRendererSends renders each row's default error
// through Echo and the real renderer and compares it with the example of its
// response object, for the envelope and the problem document.
func TestOpenAPIExamplesAreWhatTheRendererSends(t *testing.T) {
	cfg := errorsx.HandlerConfig{
		ProblemJSON: true, ProblemTypeBase: "https://docs.example.com/errors/",
		Logger: slog.New(slog.DiscardHandler),
	}
	d := decodeOpenAPI(t, errorsx.OpenAPIConfig{HandlerConfig: cfg, SendRequestID: true})
	e := echo.New()
	e.HTTPErrorHandler = echo4.ErrorHandler(cfg)
	e.Use(echo4.Use(guard.RequestID(guard.RequestIDConfig{SendRequestID: true})))
	e.GET("/rows/:code", func(c echo.Context) error { return errorsx.New(errorsx.Code(c.Param("code"))) })
	srv := httptest.NewServer(e)
	defer srv.Close()
	for _, row := range errorsx.Rows() {
		for _, ct := range []string{"application/json", errorsx.ContentTypeProblem} {
			t.Run(string(row.Code)+" "+ct, func(t *testing.T) {
				req, err := http.NewRequest(http.MethodGet, srv.URL+"/rows/"+string(row.Code), nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Accept", ct)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil {
					t.Fatal(err)
				}
				_, r := responseOf(t, d, row.Code)
				var want bytes.Buffer
				if err := json.Compact(&want, media(t, r, ct).Example); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(body, want.Bytes()) {
					t.Errorf("got body\n%s\nwant the documented example\n%s", body, want.Bytes())
				}
				for name, h := range r.Headers {
					if h.Required && res.Header.Get(name) == "" {
						t.Errorf("documented required header %s is missing from the response", name)
					}
				}
			})
		}
	}
}

func ExampleOpenAPI() {
	doc := errorsx.OpenAPI(errorsx.OpenAPIConfig{})
	var d struct {
		OpenAPI    string `json:"openapi"`
		Components struct {
			Responses map[string]json.RawMessage `json:"responses"`
		} `json:"components"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		panic(err)
	}
	fmt.Println("openapi", d.OpenAPI)
	for _, name := range slices.Sorted(maps.Keys(d.Components.Responses)) {
		fmt.Println("#/components/responses/" + name)
	}
	// Output:
	// openapi 3.1.0
	// #/components/responses/Conflict
	// #/components/responses/IdempotencyKeyReuse
	// #/components/responses/InsufficientCredits
	// #/components/responses/InsufficientScope
	// #/components/responses/InternalError
	// #/components/responses/InvalidApiKey
	// #/components/responses/InvalidRequest
	// #/components/responses/ModelInputInvalid
	// #/components/responses/NotFound
	// #/components/responses/RateLimitExceeded
	// #/components/responses/RequestInProgress
	// #/components/responses/ServiceUnavailable
}
