package nethttp_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/nethttp"
)

type bindRequest struct {
	Model   string `json:"model" validate:"required"`
	Project int    `json:"-" param:"project" validate:"min=1"`
	Page    int    `json:"-" query:"page"`
}

func (r *bindRequest) ModelID() string { return r.Model }

type traceQuery struct {
	Trace string `query:"trace"`
}

func bindMux(t *testing.T) *http.ServeMux {
	t.Helper()
	models, err := bind.NewMemoryModels(bind.Model{ID: "m1", Data: "one"})
	if err != nil {
		t.Fatal(err)
	}
	answer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := nethttp.Body[bindRequest](r)
		m, ok := nethttp.ModelFrom(r)
		out := map[string]any{"bound": v != nil, "has_model": ok}
		if v != nil {
			out["project"], out["page"] = v.Project, v.Page
		}
		if ok {
			out["model"] = m.Data
		}
		if tq := nethttp.Body[traceQuery](r); tq != nil {
			out["trace"] = tq.Trace
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	withModels := nethttp.Must(nethttp.Bind[bindRequest](bind.Config{
		Models: models,
		Skip:   func(r *http.Request) bool { return r.URL.Query().Has("skip") },
	}))
	trace := nethttp.Must(nethttp.Bind[traceQuery](bind.Config{Body: bind.BodyNone}))
	mux := http.NewServeMux()
	mux.Handle("POST /projects/{project}/generations", withModels(answer))
	mux.Handle("POST /plain/{project}", nethttp.Must(nethttp.Bind[bindRequest](bind.Config{}))(answer))
	mux.Handle("POST /traced/{project}", withModels(trace(answer)))
	mux.Handle("POST /none", answer)
	return mux
}

func TestBind(t *testing.T) {
	mux := bindMux(t)
	tests := []struct {
		name, target, body string
		wantStatus         int
		wantCode           string // for an error
		wantBody           string // for a 200
	}{
		{"bound with path, query and model", "/projects/7/generations?page=2", `{"model":"m1"}`,
			200, "", `{"bound":true,"has_model":true,"model":"one","page":2,"project":7}`},
		{"skipped", "/projects/7/generations?skip", `not json`,
			200, "", `{"bound":false,"has_model":false}`},
		{"no models configured", "/plain/3", `{"model":"x"}`,
			200, "", `{"bound":true,"has_model":false,"page":0,"project":3}`},
		{"innermost value, outer model", "/traced/4?trace=t1", `{"model":"m1"}`,
			200, "", `{"bound":false,"has_model":true,"model":"one","trace":"t1"}`},
		{"route without Bind", "/none", `{"model":"m1"}`,
			200, "", `{"bound":false,"has_model":false}`},
		{"path param checked", "/projects/0/generations", `{"model":"m1"}`, 400, "invalid_request", ""},
		{"body checked", "/projects/1/generations", `{"model":`, 400, "invalid_request", ""},
		{"unknown model", "/projects/7/generations", `{"model":"m2"}`, 404, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, tt.target, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("got status %d, want %d (body %s)", rec.Code, tt.wantStatus, rec.Body)
			}
			if rec.Code == http.StatusOK {
				if got := strings.TrimSpace(rec.Body.String()); got != tt.wantBody {
					t.Errorf("got body %s, want %s", got, tt.wantBody)
				}
				return
			}
			var env struct {
				Error struct{ Code string } `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Error.Code != tt.wantCode {
				t.Errorf("got body %s (%v), want the envelope with code %s", rec.Body, err, tt.wantCode)
			}
		})
	}
}

func TestBindConfigError(t *testing.T) {
	if _, err := nethttp.Bind[string](bind.Config{}); err == nil {
		t.Error("Bind[string]: got no error, want one")
	}
	if _, err := nethttp.Bind[bindRequest](bind.Config{Body: 9}); err == nil {
		t.Error("unknown BodyMode: got no error, want one")
	}
}
