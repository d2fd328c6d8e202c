package bind_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/errorsx"
	"github.com/go-playground/validator/v10"
)

// testGeneration is the request type of the tests: the reference server's
// POST /v1/generations plus nested and list fields.
type testGeneration struct {
	Model      string       `json:"model" validate:"required"`
	Prompt     string       `json:"prompt" validate:"required,max=4000"`
	Duration   *int         `json:"duration" validate:"required,min=1"`
	Resolution string       `json:"resolution"`
	Options    *testOptions `json:"options"`
	Refs       []testRef    `json:"refs" validate:"omitempty,max=3,dive"`
	DryRun     bool         `json:"-" query:"dry_run"`
}

type testOptions struct {
	FPS   int    `json:"fps" validate:"omitempty,min=1,max=60"`
	Email string `json:"email" validate:"omitempty,email"`
}

type testRef struct {
	URL string `json:"url" validate:"required,url"`
	ID  string `json:"id" validate:"omitempty,uuid"`
}

func (g *testGeneration) Default() {
	if g.Duration == nil {
		d := 5
		g.Duration = &d
	}
}

func (g *testGeneration) ModelID() string { return g.Model }

// testParams is bound from the path and the query string only.
type testParams struct {
	Project int      `param:"project" validate:"min=1"`
	Limit   *uint8   `query:"limit" validate:"omitempty,max=50"`
	Tags    []string `query:"tag" validate:"omitempty,dive,alpha"`
	Ratio   float64  `query:"ratio"`
	Verbose bool     `query:"verbose"`
}

// testOptional takes an optional body and the query string.
type testOptional struct {
	Limit *uint8  `query:"limit"`
	Ratio float64 `json:"ratio"`
}

func testModels(t testing.TB) *bind.MemoryModels {
	t.Helper()
	m, err := bind.NewMemoryModels(
		bind.Model{
			ID:       "clipia-fast",
			Defaults: map[string]any{"resolution": "480p"},
			Rules: []bind.Rule{
				bind.MaxInt("duration", 10, "seconds"),
				bind.OneOf("resolution", "480p", "720p"),
			},
			Data: 1,
		},
		bind.Model{
			ID:       "clipia-pro",
			Defaults: map[string]any{"resolution": "720p"},
			Rules: []bind.Rule{
				bind.MaxInt("duration", 60, "seconds"),
				bind.OneOf("resolution", "720p", "1080p", "4k"),
				bind.RuleFunc(func(m *bind.Model, f bind.Fields) *bind.Violation {
					res, _ := f.String("resolution")
					d, _ := f.Int("duration")
					if res == "4k" && d > 30 {
						return &bind.Violation{Param: "duration", Message: m.ID + " renders 4k for a duration of at most 30 seconds"}
					}
					return nil
				}),
			},
			Data: 5,
		},
	)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type failingRegistry struct{ err error }

func (r failingRegistry) Lookup(context.Context, string) (*bind.Model, bool, error) {
	return nil, false, r.err
}

// newTestServer wires the tests' routes on a ServeMux with the errorsx
// renderer. Successful requests echo the bound value back as JSON.
func newTestServer(t testing.TB) *http.ServeMux {
	t.Helper()
	mux := http.NewServeMux()
	echoBody := func(w http.ResponseWriter, r *http.Request, g *testGeneration, m *bind.Model) {
		if g == nil || m == nil {
			http.Error(w, "no bound body or model", http.StatusInternalServerError)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"request": g, "price": m.Data})
	}
	mux.Handle("POST /v1/generations", route(t, bind.Config{Models: testModels(t)}, echoBody))
	mux.Handle("POST /strict", route(t, bind.Config{Models: testModels(t), Strict: true}, echoBody))
	mux.Handle("POST /small", route(t, bind.Config{Models: testModels(t), MaxBodyBytes: 64}, echoBody))
	mux.Handle("POST /down", route(t, bind.Config{
		Models: failingRegistry{errors.New("dial tcp 10.0.0.7:5432: connection refused")}}, echoBody))
	mux.Handle("POST /optional", route(t, bind.Config{Body: bind.BodyOptional}, echoJSON[testOptional]))
	mux.Handle("GET /projects/{project}", route(t, bind.Config{}, echoJSON[testParams]))
	return mux
}

func TestBindErrors(t *testing.T) {
	e := newTestServer(t)
	long := strings.Repeat("a", 4001)
	tests := []struct {
		name        string
		method      string
		target      string
		contentType string // "-" sends none
		body        string
		wantStatus  int
		wantCode    string
		wantParam   string
		wantMessage string
	}{
		// 400: the body is not JSON, or not one JSON value.
		{"truncated JSON", "POST", "/v1/generations", "", `{"model":"clipia-fast","prompt":"a ca"`,
			400, "invalid_request", "", "body is not valid JSON: unexpected end of input at byte 38"},
		{"syntax error", "POST", "/v1/generations", "", `{"model": clipia}`,
			400, "invalid_request", "", "body is not valid JSON: unexpected character 'c' at byte 11"},
		{"trailing data", "POST", "/v1/generations", "", `{"model":"clipia-fast","prompt":"a"} {"x":1}`,
			400, "invalid_request", "", "body is not valid JSON: unexpected data after the JSON value at byte 38"},
		{"number then garbage", "POST", "/v1/generations", "", `5x`,
			400, "invalid_request", "", "body is not valid JSON: unexpected data after the JSON value at byte 2"},
		{"number then garbage strict", "POST", "/strict", "", `5x`,
			400, "invalid_request", "", "body must be an object"},
		{"trailing data strict", "POST", "/strict", "", `{"model":"clipia-fast","prompt":"a"}  {"x":1}`,
			400, "invalid_request", "", "body is not valid JSON: unexpected data after the JSON value at byte 39"},
		{"truncated JSON strict", "POST", "/strict", "", `{"model":"clipia-fast","prompt":"a ca"`,
			400, "invalid_request", "", "body is not valid JSON: unexpected end of input at byte 38"},
		{"syntax error strict", "POST", "/strict", "", `{"model": clipia}`,
			400, "invalid_request", "", "body is not valid JSON: unexpected character 'c' at byte 11"},
		{"wrong type in list strict", "POST", "/strict", "", `{"model":"clipia-fast","prompt":"a","refs":[{"url":"https://a.example"},{"url":3}]}`,
			400, "invalid_request", "refs[1].url", "refs[1].url must be a string"},
		{"object then garbage", "POST", "/v1/generations", "", `{"model":"clipia-fast","prompt":"a"}x`,
			400, "invalid_request", "", "body is not valid JSON: unexpected data after the JSON value at byte 37"},
		{"body is an array", "POST", "/v1/generations", "", `[1,2]`,
			400, "invalid_request", "", "body must be an object"},
		// 400: a value of the wrong type, named by its JSON path.
		{"string for integer", "POST", "/v1/generations", "", `{"model":"clipia-fast","prompt":"a","duration":"5"}`,
			400, "invalid_request", "duration", "duration must be an integer"},
		{"fraction for integer", "POST", "/v1/generations", "", `{"model":"clipia-fast","prompt":"a","duration":1.5}`,
			400, "invalid_request", "duration", "duration must be an integer"},
		{"object for integer", "POST", "/v1/generations", "", `{"model":"clipia-fast","prompt":"a","duration":{"s":5}}`,
			400, "invalid_request", "duration", "duration must be an integer"},
		{"number for string", "POST", "/v1/generations", "", `{"model":7,"prompt":"a"}`,
			400, "invalid_request", "model", "model must be a string"},
		{"nested wrong type", "POST", "/v1/generations", "", `{"model":"clipia-fast","prompt":"a","options":{"fps":"x"}}`,
			400, "invalid_request", "options.fps", "options.fps must be an integer"},
		{"list item wrong type", "POST", "/v1/generations", "", `{"model":"clipia-fast","prompt":"a","refs":[{"url":"https://a.example"},{"url":3}]}`,
			400, "invalid_request", "refs[1].url", "refs[1].url must be a string"},
		{"list for object", "POST", "/v1/generations", "", `{"model":"clipia-fast","prompt":"a","options":[]}`,
			400, "invalid_request", "options", "options must be an object"},
		// 400: unknown fields, only when strict.
		{"unknown field strict", "POST", "/strict", "", `{"model":"clipia-fast","prompt":"a","colour":"red"}`,
			400, "invalid_request", "colour", "colour is not a known field"},
		{"unknown nested field strict", "POST", "/strict", "", `{"model":"clipia-fast","prompt":"a","refs":[{"url":"https://a.example","x":1}]}`,
			400, "invalid_request", "refs[0].x", "refs[0].x is not a known field"},
		{"json:- field is unknown when strict", "POST", "/strict", "", `{"model":"clipia-fast","prompt":"a","DryRun":true}`,
			400, "invalid_request", "DryRun", "DryRun is not a known field"},
		// 400: empty body, content type, size.
		{"empty body", "POST", "/v1/generations", "", ``,
			400, "invalid_request", "", "request body is required"},
		{"blank body", "POST", "/v1/generations", "", " \n\t ",
			400, "invalid_request", "", "request body is required"},
		{"form content type", "POST", "/v1/generations", "application/x-www-form-urlencoded", `model=clipia-fast`,
			400, "invalid_request", "", "Content-Type must be application/json"},
		{"no content type", "POST", "/v1/generations", "-", `{"model":"clipia-fast","prompt":"a"}`,
			400, "invalid_request", "", "Content-Type must be application/json"},
		{"malformed content type", "POST", "/v1/generations", "application/json; ===", `{"model":"clipia-fast","prompt":"a"}`,
			400, "invalid_request", "", "Content-Type must be application/json"},
		{"latin-1 charset", "POST", "/v1/generations", "application/json; charset=iso-8859-1", `{"model":"clipia-fast","prompt":"a"}`,
			400, "invalid_request", "", "Content-Type charset must be utf-8"},
		{"body over limit", "POST", "/small", "", `{"model":"clipia-fast","prompt":"` + strings.Repeat("a", 64) + `"}`,
			400, "invalid_request", "", "request body is larger than 64 bytes"},
		// 400: validator tags, first failing field in field order.
		{"missing model and prompt", "POST", "/v1/generations", "", `{}`,
			400, "invalid_request", "model", "model is required"},
		{"null body", "POST", "/v1/generations", "", `null`,
			400, "invalid_request", "model", "model is required"},
		{"missing prompt", "POST", "/v1/generations", "", `{"model":"clipia-fast"}`,
			400, "invalid_request", "prompt", "prompt is required"},
		{"prompt too long", "POST", "/v1/generations", "", `{"model":"clipia-fast","prompt":"` + long + `"}`,
			400, "invalid_request", "prompt", "prompt must be at most 4000 characters long"},
		{"duration zero", "POST", "/v1/generations", "", `{"model":"clipia-fast","prompt":"a","duration":0}`,
			400, "invalid_request", "duration", "duration must be at least 1"},
		{"nested max", "POST", "/v1/generations", "", `{"model":"clipia-fast","prompt":"a","options":{"fps":61}}`,
			400, "invalid_request", "options.fps", "options.fps must be at most 60"},
		{"nested email", "POST", "/v1/generations", "", `{"model":"clipia-fast","prompt":"a","options":{"email":"nope"}}`,
			400, "invalid_request", "options.email", "options.email must be a valid email address"},
		{"list item url", "POST", "/v1/generations", "", `{"model":"clipia-fast","prompt":"a","refs":[{"url":"https://a.example"},{"url":"not a url"}]}`,
			400, "invalid_request", "refs[1].url", "refs[1].url must be a valid URL"},
		{"list item uuid", "POST", "/v1/generations", "", `{"model":"clipia-fast","prompt":"a","refs":[{"url":"https://a.example","id":"x"}]}`,
			400, "invalid_request", "refs[0].id", "refs[0].id must be a valid UUID"},
		{"list too long", "POST", "/v1/generations", "", `{"model":"clipia-fast","prompt":"a","refs":[{"url":"https://a.example"},{"url":"https://a.example"},{"url":"https://a.example"},{"url":"https://a.example"}]}`,
			400, "invalid_request", "refs", "refs must be at most 3 items"},
		{"400 before 404", "POST", "/v1/generations", "", `{"model":"nope"}`,
			400, "invalid_request", "prompt", "prompt is required"},
		{"400 before 422", "POST", "/v1/generations", "", `{"model":"clipia-fast","prompt":"a","duration":"99"}`,
			400, "invalid_request", "duration", "duration must be an integer"},
		// 400: path and query parameters.
		{"path not an integer", "GET", "/projects/abc", "", ``,
			400, "invalid_request", "project", "project must be an integer"},
		{"path below min", "GET", "/projects/0", "", ``,
			400, "invalid_request", "project", "project must be at least 1"},
		{"query overflows uint8", "GET", "/projects/1?limit=300", "", ``,
			400, "invalid_request", "limit", "limit must be at most 255"},
		{"query over max", "GET", "/projects/1?limit=51", "", ``,
			400, "invalid_request", "limit", "limit must be at most 50"},
		{"query bool", "GET", "/projects/1?verbose=maybe", "", ``,
			400, "invalid_request", "verbose", "verbose must be a boolean"},
		{"query float", "GET", "/projects/1?ratio=wide", "", ``,
			400, "invalid_request", "ratio", "ratio must be a number"},
		{"query list item", "GET", "/projects/1?tag=ok&tag=n0t", "", ``,
			400, "invalid_request", "tag[1]", "tag[1] must contain only letters"},
		{"optional body still JSON", "POST", "/optional", "text/plain", `hello`,
			400, "invalid_request", "", "Content-Type must be application/json"},
		// 404: unknown model.
		{"unknown model", "POST", "/v1/generations", "", `{"model":"clipia-ultra","prompt":"a"}`,
			404, "not_found", "model", `model "clipia-ultra" does not exist`},
		// 422: model rules, first failing rule in rule order.
		{"duration over model max", "POST", "/v1/generations", "", `{"model":"clipia-fast","prompt":"a","duration":11}`,
			422, "model_input_invalid", "duration", "clipia-fast accepts a duration of at most 10 seconds"},
		{"resolution not offered", "POST", "/v1/generations", "", `{"model":"clipia-fast","prompt":"a","resolution":"4k"}`,
			422, "model_input_invalid", "resolution", "clipia-fast accepts a resolution of 480p or 720p"},
		{"both rules fail, first reported", "POST", "/v1/generations", "", `{"model":"clipia-fast","prompt":"a","duration":30,"resolution":"4k"}`,
			422, "model_input_invalid", "duration", "clipia-fast accepts a duration of at most 10 seconds"},
		{"cross-field rule", "POST", "/v1/generations", "", `{"model":"clipia-pro","prompt":"a","duration":45,"resolution":"4k"}`,
			422, "model_input_invalid", "duration", "clipia-pro renders 4k for a duration of at most 30 seconds"},
		// 503: the registry is down; its error text never reaches the client.
		{"registry down", "POST", "/down", "", `{"model":"clipia-fast","prompt":"a"}`,
			503, "service_unavailable", "", "The model registry is temporarily unavailable. Please retry with backoff."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req *http.Request
			if tt.method == http.MethodGet {
				req = httptest.NewRequest(tt.method, tt.target, nil)
			} else {
				req = jsonRequest(tt.method, tt.target, tt.body)
				switch tt.contentType {
				case "":
				case "-":
					req.Header.Del("Content-Type")
				default:
					req.Header.Set("Content-Type", tt.contentType)
				}
			}
			rec, env := serve(t, e, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("got status %d, want %d (body %s)", rec.Code, tt.wantStatus, rec.Body)
			}
			if got := env.Error.Code; got != tt.wantCode {
				t.Errorf("got code %q, want %q", got, tt.wantCode)
			}
			gotParam := ""
			if env.Error.Param != nil {
				gotParam = *env.Error.Param
				if gotParam == "" {
					t.Errorf("got an empty param member; it must be omitted instead")
				}
			}
			if gotParam != tt.wantParam {
				t.Errorf("got param %q, want %q", gotParam, tt.wantParam)
			}
			if got := env.Error.Message; got != tt.wantMessage {
				t.Errorf("got message %q, want %q", got, tt.wantMessage)
			}
			if got := rec.Header().Get("Content-Type"); got != errorsx.ContentTypeJSON {
				t.Errorf("got Content-Type %q, want %q", got, errorsx.ContentTypeJSON)
			}
			if strings.Contains(rec.Body.String(), "10.0.0.7") {
				t.Errorf("the registry's error text leaked: %s", rec.Body)
			}
		})
	}
}

func TestBindSuccess(t *testing.T) {
	e := newTestServer(t)
	tests := []struct {
		name        string
		target      string
		contentType string
		body        string
		wantJSON    string
	}{
		{"defaults from type and model", "/v1/generations", "", `{"model":"clipia-fast","prompt":"a cat"}`,
			`{"price":1,"request":{"model":"clipia-fast","prompt":"a cat","duration":5,"resolution":"480p","options":null,"refs":null}}`},
		{"other model's default", "/v1/generations", "", `{"model":"clipia-pro","prompt":"a cat","duration":60}`,
			`{"price":5,"request":{"model":"clipia-pro","prompt":"a cat","duration":60,"resolution":"720p","options":null,"refs":null}}`},
		{"explicit values kept", "/v1/generations", "", `{"model":"clipia-pro","prompt":"a cat","duration":30,"resolution":"4k"}`,
			`{"price":5,"request":{"model":"clipia-pro","prompt":"a cat","duration":30,"resolution":"4k","options":null,"refs":null}}`},
		{"unknown field ignored when not strict", "/v1/generations", "", `{"model":"clipia-fast","prompt":"a","colour":"red"}`,
			`{"price":1,"request":{"model":"clipia-fast","prompt":"a","duration":5,"resolution":"480p","options":null,"refs":null}}`},
		{"strict accepts known fields", "/strict", "", `{"model":"clipia-fast","prompt":"a","options":{"fps":24},"refs":[{"url":"https://a.example"}]}`,
			`{"price":1,"request":{"model":"clipia-fast","prompt":"a","duration":5,"resolution":"480p","options":{"fps":24,"email":""},"refs":[{"url":"https://a.example","id":""}]}}`},
		{"vendor json type and trailing space", "/v1/generations", "application/vnd.api+json; charset=UTF-8", "{\"model\":\"clipia-fast\",\"prompt\":\"a\"}\n\n",
			`{"price":1,"request":{"model":"clipia-fast","prompt":"a","duration":5,"resolution":"480p","options":null,"refs":null}}`},
		{"body exactly at limit", "/small", "", `{"model":"clipia-fast","prompt":"` + strings.Repeat("a", 64-35) + `"}`,
			`{"price":1,"request":{"model":"clipia-fast","prompt":"` + strings.Repeat("a", 64-35) + `","duration":5,"resolution":"480p","options":null,"refs":null}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := jsonRequest(http.MethodPost, tt.target, tt.body)
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			rec, _ := serve(t, e, req)
			if rec.Code != http.StatusCreated {
				t.Fatalf("got status %d, want 201 (body %s)", rec.Code, rec.Body)
			}
			if got := strings.TrimSpace(rec.Body.String()); got != tt.wantJSON {
				t.Errorf("got body\n%s\nwant\n%s", got, tt.wantJSON)
			}
		})
	}
}

func TestBindParamsSuccess(t *testing.T) {
	e := newTestServer(t)
	tests := []struct {
		name     string
		method   string
		target   string
		body     string
		wantJSON string
	}{
		{"path only", "GET", "/projects/7", "",
			`{"Project":7,"Limit":null,"Tags":null,"Ratio":0,"Verbose":false}`},
		{"query values", "GET", "/projects/7?limit=20&tag=a&tag=b&ratio=1.5&verbose=true", "",
			`{"Project":7,"Limit":20,"Tags":["a","b"],"Ratio":1.5,"Verbose":true}`},
		{"empty query value is absent", "GET", "/projects/7?limit=&ratio=", "",
			`{"Project":7,"Limit":null,"Tags":null,"Ratio":0,"Verbose":false}`},
		{"GET body is never read", "GET", "/projects/7", `{not json`,
			`{"Project":7,"Limit":null,"Tags":null,"Ratio":0,"Verbose":false}`},
		{"optional body absent", "POST", "/optional?limit=3", "",
			`{"Limit":3,"ratio":0}`},
		{"query wins over body", "POST", "/optional?limit=3", `{"Limit":9,"ratio":2}`,
			`{"Limit":3,"ratio":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req := httptest.NewRequest(tt.method, tt.target, body)
			req.Header.Set("Content-Type", "application/json")
			rec, _ := serve(t, e, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("got status %d, want 200 (body %s)", rec.Code, rec.Body)
			}
			if got := strings.TrimSpace(rec.Body.String()); got != tt.wantJSON {
				t.Errorf("got body %s, want %s", got, tt.wantJSON)
			}
		})
	}
}

// TestBindChunkedLimit sends bodies over a real connection without a
// Content-Length (chunked), and with a Content-Length that is too large,
// and checks the limit holds for both.
func TestBindChunkedLimit(t *testing.T) {
	e := newTestServer(t)
	var gotLength atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotLength.Store(r.ContentLength)
		e.ServeHTTP(w, r)
	}))
	defer srv.Close()

	over := `{"model":"clipia-fast","prompt":"` + strings.Repeat("a", 100) + `"}`
	under := `{"model":"clipia-fast","prompt":"a"}`
	tests := []struct {
		name        string
		body        string
		chunked     bool
		wantStatus  int
		wantMessage string
	}{
		{"chunked over limit", over, true, 400, "request body is larger than 64 bytes"},
		{"chunked under limit", under, true, 201, ""},
		{"content-length over limit", over, false, 400, "request body is larger than 64 bytes"},
		{"content-length under limit", under, false, 201, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(strings.NewReader(tt.body[:10]), strings.NewReader(tt.body[10:]))
			}
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/small", body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if got := gotLength.Load(); (got == -1) != tt.chunked {
				t.Fatalf("server saw Content-Length %d, want chunked %v", got, tt.chunked)
			}
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("got status %d, want %d", res.StatusCode, tt.wantStatus)
			}
			if tt.wantMessage == "" {
				return
			}
			var env envelope
			if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
				t.Fatal(err)
			}
			if env.Error.Code != "invalid_request" || env.Error.Message != tt.wantMessage {
				t.Errorf("got %s %q, want invalid_request %q", env.Error.Code, env.Error.Message, tt.wantMessage)
			}
		})
	}
}

// TestBindCause checks that the full list of failures is in the cause, for
// the log, while the client sees the first.
func TestBindCause(t *testing.T) {
	b, err := bind.New[testGeneration](bind.Config{Models: testModels(t)})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		body       string
		wantFields []string
	}{
		{"validator errors", `{"duration":0,"options":{"fps":0,"email":"x"}}`, []string{"model", "prompt", "duration", "options.email"}},
		{"model violations", `{"model":"clipia-fast","prompt":"a","duration":30,"resolution":"4k"}`, []string{"duration", "resolution"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, m, got := b.Bind(httptest.NewRecorder(), jsonRequest(http.MethodPost, "/v1/generations", tt.body), nil)
			if v != nil || m != nil {
				t.Errorf("got value %v and model %v with an error, want nil", v, m)
			}
			var fields []string
			var ve validator.ValidationErrors
			var vs bind.Violations
			switch {
			case errors.As(got, &ve):
				for _, fe := range ve {
					fields = append(fields, bind.FieldPath(fe))
				}
			case errors.As(got, &vs):
				for _, v := range vs {
					fields = append(fields, v.Param)
				}
			default:
				t.Fatalf("got error %v, want a cause listing every failure", got)
			}
			if strings.Join(fields, ",") != strings.Join(tt.wantFields, ",") {
				t.Errorf("got fields %v, want %v", fields, tt.wantFields)
			}
		})
	}
}

func TestBindRegistryErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
	}{
		{"plain error", errors.New("connection refused"), 503},
		{"context deadline", context.DeadlineExceeded, 503},
		{"registry says 4xx", errorsx.NotFound(), 503},
		{"registry says 500", errorsx.Internal(), 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := route(t, bind.Config{Models: failingRegistry{tt.err}}, noContent[testGeneration])
			rec, _ := serve(t, h, jsonRequest(http.MethodPost, "/", `{"model":"m","prompt":"p"}`))
			if rec.Code != tt.wantStatus {
				t.Errorf("got status %d, want %d", rec.Code, tt.wantStatus)
			}
		})
	}
}

func TestBindSkip(t *testing.T) {
	var seen *http.Request
	b, err := bind.New[testGeneration](bind.Config{Models: testModels(t), Skip: func(r *http.Request) bool {
		seen = r
		return r.URL.Query().Has("skip")
	}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		target  string
		wantErr bool
	}{
		{"skipped: nothing read", "/?skip", false},
		{"not skipped: the body is read", "/", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := jsonRequest(http.MethodPost, tt.target, `not json`)
			v, m, err := b.Bind(httptest.NewRecorder(), req, nil)
			if seen != req {
				t.Errorf("Skip got request %p, want %p", seen, req)
			}
			if v != nil || m != nil || (err != nil) != tt.wantErr {
				t.Errorf("got %v, %v, %v; want nil, nil and an error %v", v, m, err, tt.wantErr)
			}
		})
	}
}

func TestBindConfigErrors(t *testing.T) {
	type badTag struct {
		Name string `json:"name" validate:"requird"`
	}
	type badQuery struct {
		M map[string]int `query:"m"`
	}
	type noModel struct {
		Prompt string `json:"prompt"`
	}
	ruleOnMissing, _ := bind.NewMemoryModels(bind.Model{ID: "m", Rules: []bind.Rule{bind.MaxInt("seconds", 1, "")}})
	ruleWrongKind, _ := bind.NewMemoryModels(bind.Model{ID: "m", Rules: []bind.Rule{bind.OneOf("duration", "1")}})
	defaultWrongType, _ := bind.NewMemoryModels(bind.Model{ID: "m", Defaults: map[string]any{"resolution": 5}})
	defaultMissing, _ := bind.NewMemoryModels(bind.Model{ID: "m", Defaults: map[string]any{"fps": 5}})
	tests := []struct {
		name string
		fn   func() error
	}{
		{"not a struct", func() error { _, err := bind.New[string](bind.Config{}); return err }},
		{"negative limit", func() error {
			_, err := bind.New[testGeneration](bind.Config{MaxBodyBytes: -1})
			return err
		}},
		{"unknown body mode", func() error {
			_, err := bind.New[testGeneration](bind.Config{Body: 9})
			return err
		}},
		{"unknown validate tag", func() error { _, err := bind.New[badTag](bind.Config{}); return err }},
		{"unparsable query type", func() error { _, err := bind.New[badQuery](bind.Config{}); return err }},
		{"models without ModelRequest", func() error {
			_, err := bind.New[noModel](bind.Config{Models: testModels(t)})
			return err
		}},
		{"rule on missing field", func() error {
			_, err := bind.New[testGeneration](bind.Config{Models: ruleOnMissing})
			return err
		}},
		{"rule on wrong kind", func() error {
			_, err := bind.New[testGeneration](bind.Config{Models: ruleWrongKind})
			return err
		}},
		{"default of wrong type", func() error {
			_, err := bind.New[testGeneration](bind.Config{Models: defaultWrongType})
			return err
		}},
		{"default for missing field", func() error {
			_, err := bind.New[testGeneration](bind.Config{Models: defaultMissing})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.fn(); err == nil {
				t.Errorf("got no error, want one")
			}
		})
	}
}

func TestNewMemoryModelsErrors(t *testing.T) {
	tests := []struct {
		name   string
		models []bind.Model
	}{
		{"empty id", []bind.Model{{ID: ""}}},
		{"duplicate id", []bind.Model{{ID: "a"}, {ID: "a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := bind.NewMemoryModels(tt.models...); err == nil {
				t.Errorf("got no error, want one")
			}
		})
	}
}

type testLevel int

func (l *testLevel) UnmarshalText(b []byte) error {
	switch string(b) {
	case "low":
		*l = 1
	case "high":
		*l = 2
	default:
		return errors.New("unknown level")
	}
	return nil
}

type testBase struct {
	Tenant string `json:"tenant" validate:"omitempty,alpha"`
	Page   int    `query:"page"`
}

type testEdge struct {
	testBase
	Level testLevel         `json:"-" query:"level"`
	When  *time.Time        `json:"when"`
	Items []struct{ N int } `json:"items"`
	Meta  map[string]int    `json:"meta"`
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestBindEdgeCases(t *testing.T) {
	e := http.NewServeMux()
	e.Handle("POST /edge", route(t, bind.Config{}, echoJSON[testEdge]))
	e.Handle("POST /edge/strict", route(t, bind.Config{Strict: true}, echoJSON[testEdge]))
	e.Handle("POST /gen", route(t, bind.Config{Models: testModels(t)}, echoJSON[testGeneration]))

	tests := []struct {
		name        string
		target      string
		body        io.Reader
		wantStatus  int
		wantParam   string
		wantMessage string
	}{
		{"promoted field validated", "/edge", strings.NewReader(`{"tenant":"x1"}`), 400, "tenant", "tenant must contain only letters"},
		{"promoted field wrong type, other case", "/edge", strings.NewReader(`{"TENANT":5}`), 400, "tenant", "tenant must be a string"},
		{"query in embedded struct", "/edge?page=x", strings.NewReader(`{}`), 400, "page", "page must be an integer"},
		{"text unmarshaler query rejects", "/edge?level=mid", strings.NewReader(`{}`), 400, "level", "level is not valid"},
		{"text unmarshaler query accepts", "/edge?level=high&page=2", strings.NewReader(`{"tenant":"acme"}`), 200, "", ""},
		{"custom unmarshaler rejects", "/edge", strings.NewReader(`{"when":"yesterday"}`), 400, "", "body contains a value that is not valid"},
		{"map value wrong type", "/edge", strings.NewReader(`{"meta":{"a":1,"b":"x"}}`), 400, "meta.b", "meta.b must be an integer"},
		{"go-named field in list", "/edge", strings.NewReader(`{"items":[{"N":1},{"n":true}]}`), 400, "items[1].N", "items[1].N must be an integer"},
		{"strict map keys are free", "/edge/strict", strings.NewReader(`{"meta":{"anything":1}}`), 200, "", ""},
		{"strict unknown in list item", "/edge/strict", strings.NewReader(`{"items":[{"N":1,"m":2}]}`), 400, "items[0].m", "items[0].m is not a known field"},
		{"strict knows promoted fields", "/edge/strict", strings.NewReader(`{"tenant":"a","pages":1}`), 400, "pages", "pages is not a known field"},
		{"body read fails", "/edge", errReader{errors.New("unexpected EOF in chunk")}, 400, "", "The request body could not be read."},
		{"client gone while reading", "/edge", errReader{context.Canceled}, 503, "", "The request was cancelled before it completed."},
		{"long unknown model id is cut", "/gen", strings.NewReader(`{"model":"` + strings.Repeat("é", 40) + `","prompt":"a"}`),
			404, "model", `model "` + strings.Repeat("é", 40) + `" does not exist`},
		{"huge unknown model id is cut", "/gen", strings.NewReader(`{"model":"` + strings.Repeat("é", 256_000) + `","prompt":"a"}`),
			404, "model", `model "` + strings.Repeat("é", errorsx.MaxEcho-1) + `… does not exist`},
		{"huge unknown field name is cut", "/edge/strict", strings.NewReader(`{"` + strings.Repeat("k", 512_000) + `":1}`),
			400, strings.Repeat("k", errorsx.MaxEcho) + "…", strings.Repeat("k", errorsx.MaxEcho) + "… is not a known field"},
		{"huge unknown nested field name is cut", "/edge/strict", strings.NewReader(`{"items":[{"` + strings.Repeat("k", 512_000) + `":1}]}`),
			400, "items[0]." + strings.Repeat("k", errorsx.MaxEcho-9) + "…", "items[0]." + strings.Repeat("k", errorsx.MaxEcho-9) + "… is not a known field"},
		{"huge map key in a type error is cut", "/edge", strings.NewReader(`{"meta":{"` + strings.Repeat("k", 512_000) + `":"x"}}`),
			400, "meta." + strings.Repeat("k", errorsx.MaxEcho-5) + "…", "meta." + strings.Repeat("k", errorsx.MaxEcho-5) + "… must be an integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, tt.target, tt.body)
			if _, ok := tt.body.(errReader); ok {
				req.ContentLength = -1
			}
			req.Header.Set("Content-Type", "application/json")
			rec, env := serve(t, e, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("got status %d, want %d (body %s)", rec.Code, tt.wantStatus, rec.Body)
			}
			if rec.Code == http.StatusOK {
				return
			}
			gotParam := ""
			if env.Error.Param != nil {
				gotParam = *env.Error.Param
			}
			if rec.Body.Len() > 1024 {
				t.Errorf("got a body of %d bytes, want a small one", rec.Body.Len())
			}
			if gotParam != tt.wantParam || env.Error.Message != tt.wantMessage {
				t.Errorf("got param %q message %q, want %q %q", gotParam, env.Error.Message, tt.wantParam, tt.wantMessage)
			}
		})
	}
}
