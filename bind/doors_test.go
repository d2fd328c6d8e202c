package bind_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/internal/doors"
)

// The Binder through every front door (internal/doors): one behaviour
// table, the path parameters each door's Param reads, the group's 404
// before binding, nested Binders, and validator errors a handler returns.

// doorGeneration is the request type of the front-door tests.
type doorGeneration struct {
	Model      string `json:"model" validate:"required"`
	Prompt     string `json:"prompt" validate:"required,max=20"`
	Duration   *int   `json:"duration" validate:"omitempty,min=1"`
	Resolution string `json:"resolution"`
	DryRun     bool   `json:"-" query:"dry_run"`
}

func (g *doorGeneration) ModelID() string { return g.Model }

// doorParams is bound from the path and the query string only.
type doorParams struct {
	Project int    `param:"project" validate:"min=1"`
	Limit   *uint8 `query:"limit" validate:"omitempty,max=50"`
}

// doorProjectGeneration is bound from the path, the query and the body.
type doorProjectGeneration struct {
	Project    int    `json:"-" param:"project" validate:"min=1"`
	Page       int    `json:"-" query:"page"`
	Model      string `json:"model" validate:"required"`
	Duration   *int   `json:"duration,omitempty"`
	Resolution string `json:"resolution"`
}

func (g *doorProjectGeneration) ModelID() string { return g.Model }

// MarshalJSON shows what was bound from the path and the query too.
func (g *doorProjectGeneration) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"project": g.Project, "page": g.Page, "model": g.Model, "resolution": g.Resolution})
}

func doorModels(t testing.TB) *bind.MemoryModels {
	t.Helper()
	m, err := bind.NewMemoryModels(bind.Model{
		ID:       "clipia-fast",
		Defaults: map[string]any{"resolution": "480p"},
		Rules:    []bind.Rule{bind.MaxInt("duration", 10, "seconds"), bind.OneOf("resolution", "480p", "720p")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// doorAnswer is what every route's handler writes: 200 with the bound value
// and the model id, or 204 with X-Bound: none when nothing was bound.
func doorAnswer(w http.ResponseWriter, v any, m *bind.Model, bound bool) error {
	if !bound {
		w.Header().Set("X-Bound", "none")
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	model := ""
	if m != nil {
		model = m.ID
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	return json.NewEncoder(w).Encode(map[string]any{"model": model, "value": v})
}

// doorRoute binds T with cfg on method path and answers with doorAnswer.
func doorRoute[T any](t testing.TB, method, path string, cfg bind.Config) doors.Route {
	t.Helper()
	b, err := bind.New[T](cfg)
	if err != nil {
		t.Fatal(err)
	}
	return doors.Route{Method: method, Path: path, Guards: []guard.Guard{b},
		Handler: func(w http.ResponseWriter, r *http.Request, _ doors.Params) error {
			v := bind.Body[T](r)
			m, _ := bind.ModelOf(r)
			return doorAnswer(w, v, m, v != nil)
		}}
}

// doorSpec is the app of the table on every door.
func doorSpec(t testing.TB) doors.Spec {
	models := doorModels(t)
	return doors.Spec{
		Errors: errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)},
		Routes: []doors.Route{
			doorRoute[doorGeneration](t, http.MethodPost, "/v1/generations", bind.Config{Models: models}),
			doorRoute[doorGeneration](t, http.MethodPost, "/strict", bind.Config{Models: models, Strict: true}),
			doorRoute[doorGeneration](t, http.MethodPost, "/small", bind.Config{MaxBodyBytes: 48}),
			doorRoute[doorGeneration](t, http.MethodPost, "/skip", bind.Config{Models: models, Skip: func(r *http.Request) bool {
				return r.Header.Get("X-Skip") != ""
			}}),
			doorRoute[doorParams](t, http.MethodGet, "/projects/{project}", bind.Config{}),
			doorRoute[doorProjectGeneration](t, http.MethodPost, "/projects/{project}/generations", bind.Config{Models: models}),
			{Method: http.MethodPost, Path: "/validate", Handler: func(w http.ResponseWriter, r *http.Request, _ doors.Params) error {
				// A handler validating on its own returns the validator's
				// error: every door renders it as bind does.
				return bind.NewValidator().Struct(&doorGeneration{Model: "clipia-fast"})
			}},
		},
	}
}

// doorCases is one behaviour table, sent through every front door.
var doorCases = []struct {
	name        string
	method      string // default POST
	target      string
	contentType string // default application/json; "-" sends none
	header      string // sent as X-Skip when not empty
	body        string
	wantStatus  int
	wantCode    string
	wantParam   string
	wantMessage string
	wantBody    string // for a 2xx: the handler's JSON
}{
	// 2xx: value, type default none, model default, query and path.
	{name: "valid, model default applied", target: "/v1/generations", body: `{"model":"clipia-fast","prompt":"a cat"}`,
		wantStatus: 200, wantBody: `{"model":"clipia-fast","value":{"model":"clipia-fast","prompt":"a cat","duration":null,"resolution":"480p"}}`},
	{name: "query binds", target: "/v1/generations?dry_run=true", body: `{"model":"clipia-fast","prompt":"a","duration":3}`,
		wantStatus: 200, wantBody: `{"model":"clipia-fast","value":{"model":"clipia-fast","prompt":"a","duration":3,"resolution":"480p"}}`},
	{name: "unknown member ignored", target: "/v1/generations", body: `{"model":"clipia-fast","prompt":"a","colour":"red"}`,
		wantStatus: 200, wantBody: `{"model":"clipia-fast","value":{"model":"clipia-fast","prompt":"a","duration":null,"resolution":"480p"}}`},
	{name: "path and query params", method: http.MethodGet, target: "/projects/7?limit=20",
		wantStatus: 200, wantBody: `{"model":"","value":{"Project":7,"Limit":20}}`},
	{name: "skipped: nothing bound, nothing read", target: "/skip", header: "1", body: `not json`,
		wantStatus: 204},
	{name: "not skipped", target: "/skip", body: `{"model":"clipia-fast","prompt":"a"}`,
		wantStatus: 200, wantBody: `{"model":"clipia-fast","value":{"model":"clipia-fast","prompt":"a","duration":null,"resolution":"480p"}}`},
	// 400: body, form, fields.
	{name: "empty body", target: "/v1/generations", body: ``,
		wantStatus: 400, wantCode: "invalid_request", wantMessage: "request body is required"},
	{name: "syntax error", target: "/v1/generations", body: `{"model": clipia}`,
		wantStatus: 400, wantCode: "invalid_request", wantMessage: "body is not valid JSON: unexpected character 'c' at byte 11"},
	{name: "truncated", target: "/v1/generations", body: `{"model":"m"`,
		wantStatus: 400, wantCode: "invalid_request", wantMessage: "body is not valid JSON: unexpected end of input at byte 12"},
	{name: "wrong type", target: "/v1/generations", body: `{"model":"clipia-fast","prompt":"a","duration":"5"}`,
		wantStatus: 400, wantCode: "invalid_request", wantParam: "duration", wantMessage: "duration must be an integer"},
	{name: "content type", target: "/v1/generations", contentType: "text/plain", body: `{}`,
		wantStatus: 400, wantCode: "invalid_request", wantMessage: "Content-Type must be application/json"},
	{name: "no content type", target: "/v1/generations", contentType: "-", body: `{}`,
		wantStatus: 400, wantCode: "invalid_request", wantMessage: "Content-Type must be application/json"},
	{name: "over the size limit", target: "/small", body: `{"model":"clipia-fast","prompt":"` + strings.Repeat("a", 20) + `"}`,
		wantStatus: 400, wantCode: "invalid_request", wantMessage: "request body is larger than 48 bytes"},
	{name: "strict unknown member", target: "/strict", body: `{"model":"clipia-fast","prompt":"a","colour":"red"}`,
		wantStatus: 400, wantCode: "invalid_request", wantParam: "colour", wantMessage: "colour is not a known field"},
	{name: "required field", target: "/v1/generations", body: `{"model":"clipia-fast"}`,
		wantStatus: 400, wantCode: "invalid_request", wantParam: "prompt", wantMessage: "prompt is required"},
	{name: "validator max", target: "/v1/generations", body: `{"model":"clipia-fast","prompt":"` + strings.Repeat("a", 21) + `"}`,
		wantStatus: 400, wantCode: "invalid_request", wantParam: "prompt", wantMessage: "prompt must be at most 20 characters long"},
	{name: "query not a boolean", target: "/v1/generations?dry_run=maybe", body: `{"model":"clipia-fast","prompt":"a"}`,
		wantStatus: 400, wantCode: "invalid_request", wantParam: "dry_run", wantMessage: "dry_run must be a boolean"},
	{name: "path not an integer", method: http.MethodGet, target: "/projects/abc",
		wantStatus: 400, wantCode: "invalid_request", wantParam: "project", wantMessage: "project must be an integer"},
	{name: "path below min", method: http.MethodGet, target: "/projects/0",
		wantStatus: 400, wantCode: "invalid_request", wantParam: "project", wantMessage: "project must be at least 1"},
	{name: "query over max", method: http.MethodGet, target: "/projects/1?limit=51",
		wantStatus: 400, wantCode: "invalid_request", wantParam: "limit", wantMessage: "limit must be at most 50"},
	{name: "400 before 404", target: "/v1/generations", body: `{"model":"nope"}`,
		wantStatus: 400, wantCode: "invalid_request", wantParam: "prompt", wantMessage: "prompt is required"},
	// 404 and 422: model rules.
	{name: "unknown model", target: "/v1/generations", body: `{"model":"clipia-ultra","prompt":"a"}`,
		wantStatus: 404, wantCode: "not_found", wantParam: "model", wantMessage: `model "clipia-ultra" does not exist`},
	{name: "rule broken", target: "/v1/generations", body: `{"model":"clipia-fast","prompt":"a","duration":11}`,
		wantStatus: 422, wantCode: "model_input_invalid", wantParam: "duration", wantMessage: "clipia-fast accepts a duration of at most 10 seconds"},
	// Path, query and body together.
	{name: "path, query and body", target: "/projects/7/generations?page=2", body: `{"model":"clipia-fast"}`,
		wantStatus: 200, wantBody: `{"model":"clipia-fast","value":{"model":"clipia-fast","page":2,"project":7,"resolution":"480p"}}`},
	{name: "path checked with a body", target: "/projects/0/generations", body: `{"model":"clipia-fast"}`,
		wantStatus: 400, wantCode: "invalid_request", wantParam: "project", wantMessage: "project must be at least 1"},
	// A validator error returned by a handler.
	{name: "handler's validator error", target: "/validate", body: `{}`,
		wantStatus: 400, wantCode: "invalid_request", wantParam: "prompt", wantMessage: "prompt is required"},
}

// TestBindThroughDoors sends one behaviour table through every front door:
// every door answers alike.
func TestBindThroughDoors(t *testing.T) {
	doors.Run(t, func(t *testing.T, d doors.Door) {
		app := d.New(t, doorSpec(t))
		for _, tc := range doorCases {
			t.Run(tc.name, func(t *testing.T) {
				method := tc.method
				if method == "" {
					method = http.MethodPost
				}
				req := httptest.NewRequest(method, tc.target, strings.NewReader(tc.body))
				switch tc.contentType {
				case "":
					req.Header.Set("Content-Type", "application/json")
				case "-":
				default:
					req.Header.Set("Content-Type", tc.contentType)
				}
				if tc.header != "" {
					req.Header.Set("X-Skip", tc.header)
				}
				rec := httptest.NewRecorder()
				app.ServeHTTP(rec, req)
				if rec.Code != tc.wantStatus {
					t.Fatalf("got status %d, want %d (body %s)", rec.Code, tc.wantStatus, rec.Body)
				}
				switch {
				case rec.Code == http.StatusNoContent:
					if got := rec.Header().Get("X-Bound"); got != "none" {
						t.Errorf("got X-Bound %q, want none (nothing bound)", got)
					}
				case rec.Code < 400:
					if got := strings.TrimSpace(rec.Body.String()); got != tc.wantBody {
						t.Errorf("got body\n%s\nwant\n%s", got, tc.wantBody)
					}
				default:
					if got := rec.Header().Get("Content-Type"); got != errorsx.ContentTypeJSON {
						t.Errorf("got Content-Type %q, want %q", got, errorsx.ContentTypeJSON)
					}
					var env envelope
					if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
						t.Fatalf("error body is not the envelope: %v: %q", err, rec.Body)
					}
					param := ""
					if env.Error.Param != nil {
						param = *env.Error.Param
					}
					if env.Error.Code != tc.wantCode || param != tc.wantParam || env.Error.Message != tc.wantMessage {
						t.Errorf("got %s %q %q, want %s %q %q", env.Error.Code, param, env.Error.Message,
							tc.wantCode, tc.wantParam, tc.wantMessage)
					}
				}
			})
		}
	})
}

// bindGuarded is a type whose binding fails on any GET without a query:
// a 404 for it proves the route check ran before binding.
type bindGuarded struct {
	Page int `query:"page" validate:"required"`
}

// TestBindUnmatchedRouteThroughDoors: on a group, a path or a method the
// group does not serve answers 404 not_found before the Binder binds
// anything, so no field error reveals what the route would take.
func TestBindUnmatchedRouteThroughDoors(t *testing.T) {
	doors.Run(t, func(t *testing.T, d doors.Door) {
		b, err := bind.New[bindGuarded](bind.Config{})
		if err != nil {
			t.Fatal(err)
		}
		app := d.New(t, doors.Spec{
			Errors:      errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)},
			GroupPrefix: "/v1",
			Group:       []guard.Guard{b},
			Routes: []doors.Route{{Method: http.MethodGet, Path: "/v1/items", Handler: func(w http.ResponseWriter, r *http.Request, _ doors.Params) error {
				if v := bind.Body[bindGuarded](r); v == nil || v.Page != 2 {
					t.Errorf("handler: got %+v, want page 2", v)
				}
				w.WriteHeader(http.StatusNoContent)
				return nil
			}}},
		})
		for _, tt := range []struct {
			name, method, target string
			wantStatus           int
			wantCode             string
		}{
			{"matched route binds", http.MethodGet, "/v1/items", 400, "invalid_request"},
			{"matched route, valid", http.MethodGet, "/v1/items?page=2", 204, ""},
			{"unknown path", http.MethodGet, "/v1/nope", 404, "not_found"},
			{"wrong method", http.MethodPost, "/v1/items", 404, "not_found"},
		} {
			rec := httptest.NewRecorder()
			app.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, nil))
			if rec.Code != tt.wantStatus {
				t.Errorf("%s: got status %d, want %d (body %s)", tt.name, rec.Code, tt.wantStatus, rec.Body)
				continue
			}
			var env envelope
			if rec.Code >= 400 {
				if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
			}
			if env.Error.Code != tt.wantCode {
				t.Errorf("%s: got code %q, want %q", tt.name, env.Error.Code, tt.wantCode)
			}
		}
	})
}

// TestBindNestedThroughDoors: with two Binders on a route (the inner one
// reading only the query string) the handler sees the innermost value and
// the outer one's model; a route without a Binder sees nil.
func TestBindNestedThroughDoors(t *testing.T) {
	type traceQuery struct {
		Trace string `query:"trace"`
	}
	doors.Run(t, func(t *testing.T, d doors.Door) {
		outer, err := bind.New[doorGeneration](bind.Config{Models: doorModels(t)})
		if err != nil {
			t.Fatal(err)
		}
		inner, err := bind.New[traceQuery](bind.Config{Body: bind.BodyNone})
		if err != nil {
			t.Fatal(err)
		}
		var (
			gotTrace *traceQuery
			gotGen   *doorGeneration
			gotModel *bind.Model
			gotOK    bool
		)
		record := func(w http.ResponseWriter, r *http.Request, _ doors.Params) error {
			gotTrace, gotGen = bind.Body[traceQuery](r), bind.Body[doorGeneration](r)
			gotModel, gotOK = bind.ModelOf(r)
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		app := d.New(t, doors.Spec{
			Errors: errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)},
			Routes: []doors.Route{
				{Method: http.MethodPost, Path: "/both", Guards: []guard.Guard{outer, inner}, Handler: record},
				{Method: http.MethodPost, Path: "/none", Handler: record},
			},
		})
		body := `{"model":"clipia-fast","prompt":"a"}`
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/both?trace=t1", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		app.ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent {
			t.Fatalf("got status %d, want 204 (body %s)", rec.Code, rec.Body)
		}
		if gotGen != nil || gotTrace == nil || gotTrace.Trace != "t1" {
			t.Errorf("got values %+v and %+v, want only the innermost Binder's", gotGen, gotTrace)
		}
		if !gotOK || gotModel == nil || gotModel.ID != "clipia-fast" {
			t.Errorf("got model %v, %v; want clipia-fast, true", gotModel, gotOK)
		}
		rec = httptest.NewRecorder()
		app.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/none", strings.NewReader(body)))
		if gotGen != nil || gotTrace != nil || gotModel != nil || gotOK {
			t.Errorf("without a Binder: got %v %v %v %v, want nil nil nil false", gotGen, gotTrace, gotModel, gotOK)
		}
	})
}
