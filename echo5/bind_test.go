package echo5_test

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
	"github.com/labstack/echo/v5"
)

type bindRequest struct {
	Model   string `json:"model" validate:"required"`
	Project int    `json:"-" param:"project" validate:"min=1"`
	Page    int    `json:"-" query:"page"`
}

func (r *bindRequest) ModelID() string { return r.Model }

// bindGuarded fails to bind on any GET without a query: a 404 for it
// proves the route check ran before binding.
type bindGuarded struct {
	Page int `query:"page" validate:"required"`
}

func bindApp(t *testing.T) *echo.Echo {
	t.Helper()
	models, err := bind.NewMemoryModels(bind.Model{ID: "m1", Data: "one"})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.HTTPErrorHandler = echo5.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	answer := func(c *echo.Context) error {
		v := echo5.Body[bindRequest](c)
		m, ok := echo5.ModelFrom(c)
		out := map[string]any{"bound": v != nil, "has_model": ok}
		if v != nil {
			out["project"], out["page"] = v.Project, v.Page
		}
		if ok {
			out["model"] = m.Data
		}
		return c.JSON(http.StatusOK, out)
	}
	e.POST("/projects/:project/generations", answer, echo5.Must(echo5.Bind[bindRequest](bind.Config{
		Models: models,
		Skip:   func(r *http.Request) bool { return r.URL.Query().Has("skip") },
	})))
	e.POST("/plain/:project", answer, echo5.Must(echo5.Bind[bindRequest](bind.Config{})))
	g := e.Group("/v1", echo5.Must(echo5.Bind[bindGuarded](bind.Config{})))
	g.GET("/items", func(c *echo.Context) error { return c.NoContent(http.StatusNoContent) })
	return e
}

func TestBind(t *testing.T) {
	e := bindApp(t)
	tests := []struct {
		name, method, target, body string
		wantStatus                 int
		wantCode                   string // for an error
		wantBody                   string // for a 200
	}{
		{"bound with path, query and model", "POST", "/projects/7/generations?page=2", `{"model":"m1"}`,
			200, "", `{"bound":true,"has_model":true,"model":"one","page":2,"project":7}`},
		{"skipped", "POST", "/projects/7/generations?skip", `not json`,
			200, "", `{"bound":false,"has_model":false}`},
		{"no models configured", "POST", "/plain/3", `{"model":"x"}`,
			200, "", `{"bound":true,"has_model":false,"page":0,"project":3}`},
		{"path param checked", "POST", "/projects/0/generations", `{"model":"m1"}`, 400, "invalid_request", ""},
		{"unknown model", "POST", "/projects/7/generations", `{"model":"m2"}`, 404, "not_found", ""},
		{"group route binds", "GET", "/v1/items", ``, 400, "invalid_request", ""},
		{"group route valid", "GET", "/v1/items?page=1", ``, 204, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("got status %d, want %d (body %s)", rec.Code, tt.wantStatus, rec.Body)
			}
			switch {
			case rec.Code == http.StatusOK:
				if got := strings.TrimSpace(rec.Body.String()); got != tt.wantBody {
					t.Errorf("got body %s, want %s", got, tt.wantBody)
				}
			case rec.Code >= 400:
				var env struct {
					Error struct{ Code string } `json:"error"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Error.Code != tt.wantCode {
					t.Errorf("got body %s (%v), want the envelope with code %s", rec.Body, err, tt.wantCode)
				}
			}
		})
	}
}

// TestBindUnmatchedRoute: on a group, Echo runs Bind for paths of no route
// too; Bind answers them 404 not_found before it binds anything.
func TestBindUnmatchedRoute(t *testing.T) {
	probe := echo.New()
	var matched bool
	probe.Group("/v1", func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error { matched = echo5.RouteMatched(c); return next(c) }
	}).GET("/items", func(c *echo.Context) error { return nil })
	probe.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/nope", nil))
	if matched {
		t.Fatal("echo5.RouteMatched reports a group's catch-all as matched")
	}
	e := bindApp(t)
	for _, target := range []string{"/v1/nope", "/v1/items/x"} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		var env struct {
			Error struct{ Code string } `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &env); rec.Code != http.StatusNotFound || err != nil || env.Error.Code != "not_found" {
			t.Errorf("GET %s: got %d %s, want 404 not_found", target, rec.Code, rec.Body)
		}
	}
}

func TestBindConfigError(t *testing.T) {
	if _, err := echo5.Bind[string](bind.Config{}); err == nil {
		t.Error("Bind[string]: got no error, want one")
	}
	if _, err := echo5.Bind[bindRequest](bind.Config{ReadTimeout: -1}); err == nil {
		t.Error("negative ReadTimeout: got no error, want one")
	}
}
