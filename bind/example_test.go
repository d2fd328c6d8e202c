package bind_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/errorsx"
)

// GenerationRequest is the body of POST /v1/generations in the reference
// server.
type GenerationRequest struct {
	Model      string `json:"model" validate:"required"`
	Prompt     string `json:"prompt" validate:"required,max=4000"`
	Duration   *int   `json:"duration" validate:"required,min=1"`
	Resolution string `json:"resolution"`
}

// ModelID names the model whose rules apply.
func (r *GenerationRequest) ModelID() string { return r.Model }

// Default fills in what does not depend on the model; the model's own
// defaults (resolution) come from Model.Defaults.
func (r *GenerationRequest) Default() {
	if r.Duration == nil {
		d := 5
		r.Duration = &d
	}
}

// A Binder is framework-neutral: this is the whole of a net/http handler
// over it. The front doors (bind.Bind for Echo v4, echo5.Bind,
// nethttp.Bind) do the same as a bind.
func ExampleNew() {
	models, err := bind.NewMemoryModels(
		bind.Model{
			ID:       "clipia-fast",
			Defaults: map[string]any{"resolution": "480p"},
			Rules: []bind.Rule{
				bind.MaxInt("duration", 10, "seconds"),
				bind.OneOf("resolution", "480p", "720p"),
			},
		},
	)
	if err != nil {
		panic(err)
	}
	binder, err := bind.New[GenerationRequest](bind.Config{Models: models, Strict: true})
	if err != nil {
		panic(err)
	}
	renderer := errorsx.NewRenderer(errorsx.HandlerConfig{})

	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/generations", func(w http.ResponseWriter, r *http.Request) {
		req, _, err := binder.Bind(w, r, r.PathValue)
		if err != nil {
			renderer.Write(w, r, r.Pattern, errorsx.From(err))
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "%s %q %ds %s", req.Model, req.Prompt, *req.Duration, req.Resolution)
	})

	for _, body := range []string{
		`{"model":"clipia-fast","prompt":"a cat on a skateboard"}`,
		`{"model":"clipia-fast","prompt":""}`,
		`{"model":"clipia-fast","prompt":"a cat","duration":"5"}`,
		`{"model":"clipia-ultra","prompt":"a cat"}`,
		`{"model":"clipia-fast","prompt":"a cat","duration":30}`,
	} {
		req := httptest.NewRequest(http.MethodPost, "/v1/generations", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// 201 clipia-fast "a cat on a skateboard" 5s 480p
	// 400 {"error":{"type":"invalid_request_error","code":"invalid_request","message":"prompt is required","param":"prompt"}}
	// 400 {"error":{"type":"invalid_request_error","code":"invalid_request","message":"duration must be an integer","param":"duration"}}
	// 404 {"error":{"type":"invalid_request_error","code":"not_found","message":"model \"clipia-ultra\" does not exist","param":"model"}}
	// 422 {"error":{"type":"invalid_request_error","code":"model_input_invalid","message":"clipia-fast accepts a duration of at most 10 seconds","param":"duration"}}
}

// A rule across fields is a RuleFunc; it reads the request by JSON path
// through Fields (or type-asserts Fields.Request to the request type).
func ExampleRuleFunc() {
	fourKShort := bind.RuleFunc(func(m *bind.Model, f bind.Fields) *bind.Violation {
		res, _ := f.String("resolution")
		d, _ := f.Int("duration")
		if res == "4k" && d > 30 {
			return &bind.Violation{Param: "duration", Message: m.ID + " renders 4k for a duration of at most 30 seconds"}
		}
		return nil
	})
	models, _ := bind.NewMemoryModels(bind.Model{
		ID:    "clipia-pro",
		Rules: []bind.Rule{bind.MaxInt("duration", 60, "seconds"), fourKShort},
	})
	binder, err := bind.New[GenerationRequest](bind.Config{Models: models})
	if err != nil {
		panic(err)
	}

	req := httptest.NewRequest(http.MethodPost, "/v1/generations",
		strings.NewReader(`{"model":"clipia-pro","prompt":"a cat","duration":45,"resolution":"4k"}`))
	req.Header.Set("Content-Type", "application/json")
	_, _, err = binder.Bind(httptest.NewRecorder(), req, nil)
	e := errorsx.From(err)
	fmt.Println(e.Status(), e.Code(), e.Param()+":", e.Message())
	// Output:
	// 422 model_input_invalid duration: clipia-pro renders 4k for a duration of at most 30 seconds
}

// Path and query parameters bind through `param` and `query` tags; a value
// that does not parse is a 400 naming the parameter. The path parameter
// lookup is the router's: r.PathValue for a ServeMux, c.Param for Echo.
func ExampleBinder_Bind() {
	type listGenerations struct {
		Project int    `param:"project" validate:"min=1"`
		Limit   int    `query:"limit" validate:"omitempty,max=100"`
		Status  string `query:"status" validate:"omitempty,oneof=queued succeeded failed"`
	}
	binder, err := bind.New[listGenerations](bind.Config{})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /projects/{project}/generations", func(w http.ResponseWriter, r *http.Request) {
		q, _, err := binder.Bind(w, r, r.PathValue)
		if err != nil {
			e := errorsx.From(err)
			fmt.Fprintf(w, "%d %s: %s", e.Status(), e.Param(), e.Message())
			return
		}
		fmt.Fprintf(w, "project %d, limit %d, status %q", q.Project, q.Limit, q.Status)
	})

	for _, target := range []string{
		"/projects/7/generations?limit=20&status=queued",
		"/projects/7/generations?limit=ten",
		"/projects/7/generations?status=lost",
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		fmt.Println(rec.Body.String())
	}
	// Output:
	// project 7, limit 20, status "queued"
	// 400 limit: limit must be an integer
	// 400 status: status must be one of: queued, succeeded, failed
}
