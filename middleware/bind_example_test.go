package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/middleware"
	"github.com/labstack/echo/v4"
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

func ExampleBind() {
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
	bind, err := middleware.Bind[GenerationRequest](bind.Config{Models: models, Strict: true})
	if err != nil {
		panic(err)
	}

	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{})
	e.POST("/v1/generations", func(c echo.Context) error {
		req := middleware.Body[GenerationRequest](c)
		return c.String(http.StatusCreated, fmt.Sprintf("%s %q %ds %s", req.Model, req.Prompt, *req.Duration, req.Resolution))
	}, bind)

	for _, body := range []string{
		`{"model":"clipia-fast","prompt":"a cat on a skateboard"}`,
		`{"model":"clipia-fast","prompt":""}`,
		`{"model":"clipia-fast","prompt":"a cat","duration":"5"}`,
		`{"model":"clipia-ultra","prompt":"a cat"}`,
		`{"model":"clipia-fast","prompt":"a cat","duration":30}`,
	} {
		req := httptest.NewRequest(http.MethodPost, "/v1/generations", strings.NewReader(body))
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Body.String())
	}
	// Output:
	// 201 clipia-fast "a cat on a skateboard" 5s 480p
	// 400 {"error":{"type":"invalid_request_error","code":"invalid_request","message":"prompt is required","param":"prompt"}}
	// 400 {"error":{"type":"invalid_request_error","code":"invalid_request","message":"duration must be an integer","param":"duration"}}
	// 404 {"error":{"type":"invalid_request_error","code":"not_found","message":"model \"clipia-ultra\" does not exist","param":"model"}}
	// 422 {"error":{"type":"invalid_request_error","code":"model_input_invalid","message":"clipia-fast accepts a duration of at most 10 seconds","param":"duration"}}
}

// Path and query parameters bind through `param` and `query` tags; a value
// that does not parse is a 400 naming the parameter.
func ExampleBody() {
	type listGenerations struct {
		Project int    `param:"project" validate:"min=1"`
		Limit   int    `query:"limit" validate:"omitempty,max=100"`
		Status  string `query:"status" validate:"omitempty,oneof=queued succeeded failed"`
	}
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{})
	e.GET("/projects/:project/generations", func(c echo.Context) error {
		q := middleware.Body[listGenerations](c)
		return c.String(http.StatusOK, fmt.Sprintf("project %d, limit %d, status %q", q.Project, q.Limit, q.Status))
	}, middleware.Must(middleware.Bind[listGenerations](bind.Config{})))

	for _, target := range []string{
		"/projects/7/generations?limit=20&status=queued",
		"/projects/7/generations?limit=ten",
		"/projects/7/generations?status=lost",
	} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		fmt.Println(rec.Code, rec.Body.String())
	}
	// Output:
	// 200 project 7, limit 20, status "queued"
	// 400 {"error":{"type":"invalid_request_error","code":"invalid_request","message":"limit must be an integer","param":"limit"}}
	// 400 {"error":{"type":"invalid_request_error","code":"invalid_request","message":"status must be one of: queued, succeeded, failed","param":"status"}}
}
