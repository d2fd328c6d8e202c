package middleware_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/echo5"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/middleware"
	"github.com/clipia/apiguard/nethttp"
	"github.com/labstack/echo/v4"
	echov5 "github.com/labstack/echo/v5"
)

// newRenderer is the Echo v4 error handler with logs discarded.
func newRenderer() echo.HTTPErrorHandler {
	return middleware.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
}

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

// doorRoute is one route of the front-door apps: its configuration, and
// what the handler answers from the bound value and model (nil when none).
type doorRoute struct {
	method, path string // path in ServeMux syntax; the Echo apps use :name
	bindTo       string // "generation" or "params"
	cfg          bind.Config
}

func doorRoutes(t testing.TB) []doorRoute {
	models := doorModels(t)
	return []doorRoute{
		{http.MethodPost, "/v1/generations", "generation", bind.Config{Models: models}},
		{http.MethodPost, "/strict", "generation", bind.Config{Models: models, Strict: true}},
		{http.MethodPost, "/small", "generation", bind.Config{MaxBodyBytes: 48}},
		{http.MethodPost, "/skip", "generation", bind.Config{Models: models, Skip: func(r *http.Request) bool {
			return r.Header.Get("X-Skip") != ""
		}}},
		{http.MethodGet, "/projects/{project}", "params", bind.Config{}},
	}
}

// doorAnswer is what every app's handler writes: 200 with the bound value
// and the model id, or 204 with X-Bound: none when nothing was bound.
func doorAnswer(w http.ResponseWriter, v any, m *bind.Model, bound bool) {
	if !bound {
		w.Header().Set("X-Bound", "none")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	model := ""
	if m != nil {
		model = m.ID
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(map[string]any{"model": model, "value": v})
}

func echoPath(p string) string {
	return strings.NewReplacer("{", ":", "}", "").Replace(p)
}

// doors builds the same routes through the three front doors.
var doors = []struct {
	name string
	app  func(t testing.TB) http.Handler
}{
	{"echo4", func(t testing.TB) http.Handler {
		e := echo.New()
		e.HTTPErrorHandler = newRenderer()
		for _, rt := range doorRoutes(t) {
			var mw echo.MiddlewareFunc
			var h echo.HandlerFunc
			var err error
			if rt.bindTo == "params" {
				mw, err = middleware.Bind[doorParams](rt.cfg)
				h = func(c echo.Context) error {
					v := middleware.Body[doorParams](c)
					m, _ := middleware.ModelFrom(c)
					doorAnswer(c.Response(), v, m, v != nil)
					return nil
				}
			} else {
				mw, err = middleware.Bind[doorGeneration](rt.cfg)
				h = func(c echo.Context) error {
					v := middleware.Body[doorGeneration](c)
					m, _ := middleware.ModelFrom(c)
					doorAnswer(c.Response(), v, m, v != nil)
					return nil
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			e.Add(rt.method, echoPath(rt.path), h, mw)
		}
		return e
	}},
	{"echo5", func(t testing.TB) http.Handler {
		e := echov5.New()
		e.HTTPErrorHandler = echo5.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
		for _, rt := range doorRoutes(t) {
			var mw echov5.MiddlewareFunc
			var h echov5.HandlerFunc
			var err error
			if rt.bindTo == "params" {
				mw, err = echo5.Bind[doorParams](rt.cfg)
				h = func(c *echov5.Context) error {
					v := echo5.Body[doorParams](c)
					m, _ := echo5.ModelFrom(c)
					doorAnswer(c.Response(), v, m, v != nil)
					return nil
				}
			} else {
				mw, err = echo5.Bind[doorGeneration](rt.cfg)
				h = func(c *echov5.Context) error {
					v := echo5.Body[doorGeneration](c)
					m, _ := echo5.ModelFrom(c)
					doorAnswer(c.Response(), v, m, v != nil)
					return nil
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			e.Add(rt.method, echoPath(rt.path), h, mw)
		}
		return e
	}},
	{"nethttp", func(t testing.TB) http.Handler {
		mux := http.NewServeMux()
		for _, rt := range doorRoutes(t) {
			var mw func(http.Handler) http.Handler
			var h http.HandlerFunc
			var err error
			if rt.bindTo == "params" {
				mw, err = nethttp.Bind[doorParams](rt.cfg)
				h = func(w http.ResponseWriter, r *http.Request) {
					v := nethttp.Body[doorParams](r)
					m, _ := nethttp.ModelFrom(r)
					doorAnswer(w, v, m, v != nil)
				}
			} else {
				mw, err = nethttp.Bind[doorGeneration](rt.cfg)
				h = func(w http.ResponseWriter, r *http.Request) {
					v := nethttp.Body[doorGeneration](r)
					m, _ := nethttp.ModelFrom(r)
					doorAnswer(w, v, m, v != nil)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			mux.Handle(rt.method+" "+rt.path, mw(h))
		}
		return mux
	}},
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
}

// TestBindDoors sends one behaviour table through an Echo v4 app, an Echo
// v5 app and a ServeMux: every front door answers alike.
func TestBindDoors(t *testing.T) {
	for _, d := range doors {
		t.Run(d.name, func(t *testing.T) {
			app := d.app(t)
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
						var env bindEnvelope
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
}

type bindEnvelope struct {
	Error struct {
		Type    string  `json:"type"`
		Code    string  `json:"code"`
		Message string  `json:"message"`
		Param   *string `json:"param"`
	} `json:"error"`
}

// bindGuarded is a type whose binding fails on any GET without a query:
// a 404 for it proves the route check ran before binding.
type bindGuarded struct {
	Page int `query:"page" validate:"required"`
}

// TestBindUnmatchedRoute: on a group, Echo runs Bind for paths of no route
// too; Bind answers them 404 not_found before it binds anything, so no
// field error reveals what the route would take.
func TestBindUnmatchedRoute(t *testing.T) {
	e := echo.New()
	e.HTTPErrorHandler = newRenderer()
	g := e.Group("/v1", middleware.Must(middleware.Bind[bindGuarded](bind.Config{})))
	g.GET("/items", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	tests := []struct {
		name, method, target string
		wantStatus           int
		wantCode             string
	}{
		{"matched route binds", http.MethodGet, "/v1/items", 400, "invalid_request"},
		{"matched route, valid", http.MethodGet, "/v1/items?page=2", 204, ""},
		{"unknown path", http.MethodGet, "/v1/nope", 404, "not_found"},
		{"wrong method", http.MethodPost, "/v1/items", 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, nil))
			if rec.Code != tt.wantStatus {
				t.Fatalf("got status %d, want %d (body %s)", rec.Code, tt.wantStatus, rec.Body)
			}
			var env bindEnvelope
			if rec.Code >= 400 {
				if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
					t.Fatal(err)
				}
			}
			if env.Error.Code != tt.wantCode {
				t.Errorf("got code %q, want %q", env.Error.Code, tt.wantCode)
			}
		})
	}
}

// TestBindEchoContext: the value and the model are in the echo.Context;
// with two Binds on a route (the inner one reading only the query string)
// the innermost value is visible and the outer one's model stays; a route
// without Bind sees nil.
func TestBindEchoContext(t *testing.T) {
	type traceQuery struct {
		Trace string `query:"trace"`
	}
	e := echo.New()
	e.HTTPErrorHandler = newRenderer()
	var (
		gotTrace *traceQuery     // bound by the inner Bind
		gotGen   *doorGeneration // bound by the outer Bind
		gotModel *bind.Model
		gotOK    bool
	)
	record := func(c echo.Context) error {
		gotTrace, gotGen = middleware.Body[traceQuery](c), middleware.Body[doorGeneration](c)
		gotModel, gotOK = middleware.ModelFrom(c)
		return c.NoContent(http.StatusNoContent)
	}
	e.POST("/both", record,
		middleware.Must(middleware.Bind[doorGeneration](bind.Config{Models: doorModels(t)})),
		middleware.Must(middleware.Bind[traceQuery](bind.Config{Body: bind.BodyNone})))
	e.POST("/none", record)
	body := `{"model":"clipia-fast","prompt":"a"}`

	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/both?trace=t1", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("got status %d, want 204 (body %s)", rec.Code, rec.Body)
	}
	if gotGen != nil || gotTrace == nil || gotTrace.Trace != "t1" {
		t.Errorf("got values %+v and %+v, want only the innermost Bind's", gotGen, gotTrace)
	}
	if !gotOK || gotModel == nil || gotModel.ID != "clipia-fast" {
		t.Errorf("got model %v, %v; want clipia-fast, true", gotModel, gotOK)
	}

	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/none", strings.NewReader(body)))
	if gotGen != nil || gotTrace != nil || gotModel != nil || gotOK {
		t.Errorf("without Bind: got %v %v %v %v, want nil nil nil false", gotGen, gotTrace, gotModel, gotOK)
	}
}

func TestBindConfigError(t *testing.T) {
	if _, err := middleware.Bind[string](bind.Config{}); err == nil {
		t.Error("Bind[string]: got no error, want one")
	}
	if _, err := middleware.Bind[doorGeneration](bind.Config{MaxBodyBytes: -1}); err == nil || !strings.Contains(err.Error(), "MaxBodyBytes") {
		t.Errorf("negative MaxBodyBytes: got %v, want bind.New's error", err)
	}
}
