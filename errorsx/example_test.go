package errorsx_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/middleware/echo4"
	"github.com/labstack/echo/v4"
)

// Install the renderer and the two request-level guards that belong to it
// (Echo v4 door); handlers return catalogue errors.
func ExampleRenderer_echo() {
	e := echo.New()
	echo4.Install(e, echo4.Config{
		Errors: errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)},
		Use: []guard.Guard{
			guard.RequestID(guard.RequestIDConfig{SendRequestID: true}), // Request-Id too, for stripe-go
			guard.Must(guard.Recover(guard.RecoverConfig{})),
		},
	})
	e.GET("/v1/models/:id", func(c echo.Context) error {
		return errorsx.NotFound().WithParam("model").WithMessage("model " + c.Param("id") + " does not exist")
	})

	req := httptest.NewRequest(http.MethodGet, "/v1/models/clipia-x", nil)
	req.Header.Set("X-Request-Id", "req_123")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)

	fmt.Println(rec.Code)
	for _, h := range []string{"Content-Type", "X-Request-Id", "Request-Id", "X-Should-Retry"} {
		fmt.Printf("%s: %s\n", h, rec.Header().Get(h))
	}
	fmt.Println(rec.Body.String())
	// Output:
	// 404
	// Content-Type: application/json; charset=utf-8
	// X-Request-Id: req_123
	// Request-Id: req_123
	// X-Should-Retry: false
	// {"error":{"type":"invalid_request_error","code":"not_found","message":"model clipia-x does not exist","param":"model"}}
}

// Any error that is not a catalogue error becomes a sanitised 500; Echo's
// own errors are mapped onto the table.
func ExampleRenderer_unknownErrors() {
	e := echo.New()
	e.HTTPErrorHandler = echo4.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	e.GET("/db", func(c echo.Context) error {
		return errors.New("dial tcp 10.0.0.7:5432: connection refused") // logged, never sent
	})

	for _, path := range []string{"/db", "/no-such-route"} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Println(rec.Code, rec.Header().Get("X-Should-Retry"), rec.Body.String())
	}
	// Output:
	// 500 true {"error":{"type":"api_error","code":"internal_error","message":"An internal error occurred. Please retry; if it persists, contact support with the request id."}}
	// 404 false {"error":{"type":"invalid_request_error","code":"not_found","message":"The requested resource was not found."}}
}

// A 429 carries Retry-After in whole seconds, rounded up.
func ExampleError_WithRetryAfter() {
	e := echo.New()
	e.HTTPErrorHandler = echo4.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	e.GET("/", func(c echo.Context) error {
		return errorsx.RateLimitExceeded().WithRetryAfter(1500 * time.Millisecond)
	})
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	fmt.Println(rec.Code, rec.Header().Get("Retry-After"), rec.Header().Get("X-Should-Retry"))
	// Output:
	// 429 2 true
}

// Clients whose Accept explicitly prefers application/problem+json get an
// RFC 9457 problem document, when the app turns it on.
func ExampleHandlerConfig_problemJSON() {
	e := echo.New()
	e.HTTPErrorHandler = echo4.ErrorHandler(errorsx.HandlerConfig{
		Logger:      slog.New(slog.DiscardHandler),
		ProblemJSON: true,
	})
	e.POST("/v1/generations", func(c echo.Context) error {
		return errorsx.InsufficientCredits()
	})
	for _, accept := range []string{"application/problem+json", "application/problem+json, application/json"} {
		req := httptest.NewRequest(http.MethodPost, "/v1/generations", nil)
		req.Header.Set("Accept", accept)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		fmt.Println(rec.Header().Get("Content-Type"))
		fmt.Println(rec.Body.String())
	}
	// Output:
	// application/problem+json
	// {"type":"urn:apiguard:error:insufficient_credits","title":"Insufficient credits","status":402,"detail":"Not enough credits for this generation. Please top up your balance.","code":"insufficient_credits"}
	// application/json; charset=utf-8
	// {"error":{"type":"invalid_request_error","code":"insufficient_credits","message":"Not enough credits for this generation. Please top up your balance."}}
}

// From tells what a client would see for any error, without rendering.
func ExampleFrom() {
	for _, err := range []error{
		fmt.Errorf("loading generation: %w", errorsx.NotFound()),
		&http.MaxBytesError{Limit: 1 << 20},
		context.DeadlineExceeded,
		errors.New("boom"),
	} {
		e := errorsx.From(err)
		fmt.Println(e.Status(), e.Code(), e.Retryable())
	}
	// Output:
	// 404 not_found false
	// 400 invalid_request false
	// 503 service_unavailable true
	// 500 internal_error true
}

// A framework's own status (here net/http's 405 and 413) maps onto the
// table; its text never reaches the client.
func ExampleFromStatus() {
	for _, status := range []int{http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge, http.StatusBadGateway} {
		e := errorsx.FromStatus(status, "", errors.New(http.StatusText(status)))
		fmt.Println(status, "→", e.Status(), e.Code(), e.Message())
	}
	// Output:
	// 405 → 404 not_found The requested resource was not found.
	// 413 → 400 invalid_request The request body is too large.
	// 502 → 500 internal_error An internal error occurred. Please retry; if it persists, contact support with the request id.
}

// The catalogue: the only (status, code) pairs that ever leave the server.
func ExampleRows() {
	for _, r := range errorsx.Rows() {
		fmt.Println(r.Status, r.Code, r.Type, r.Retryable)
	}
	// Output:
	// 400 invalid_request invalid_request_error false
	// 401 invalid_api_key authentication_error false
	// 402 insufficient_credits invalid_request_error false
	// 403 insufficient_scope permission_error false
	// 404 not_found invalid_request_error false
	// 409 idempotency_key_reuse idempotency_error false
	// 409 request_in_progress idempotency_error true
	// 422 model_input_invalid invalid_request_error false
	// 429 rate_limit_exceeded rate_limit_error true
	// 500 internal_error api_error true
	// 503 service_unavailable api_error true
}

// Errors are immutable: the With methods return copies, and the cause is for
// the log only.
func ExampleError_WithCause() {
	base := errorsx.ServiceUnavailable()
	e := base.WithCause(errors.New("redis: connection pool timeout"))
	fmt.Println(base.Unwrap() == nil)
	fmt.Println(e.Message())
	fmt.Println(e.Error())
	// Output:
	// true
	// The service is temporarily unavailable. Please retry with backoff.
	// service_unavailable: The service is temporarily unavailable. Please retry with backoff.: redis: connection pool timeout
}

func ExampleRetryAfterSeconds() {
	for _, d := range []time.Duration{0, 300 * time.Millisecond, time.Second, 1001 * time.Millisecond, time.Minute} {
		fmt.Println(errorsx.RetryAfterSeconds(d))
	}
	// Output:
	// 1
	// 1
	// 1
	// 2
	// 60
}

func ExampleAppendEnvelope() {
	b := errorsx.AppendEnvelope(nil, errorsx.InvalidRequest().WithParam("prompt").WithMessage("prompt is required"))
	fmt.Println(string(b))
	// Output:
	// {"error":{"type":"invalid_request_error","code":"invalid_request","message":"prompt is required","param":"prompt"}}
}

// The renderer on plain net/http: a handler hands it the error and the
// writer.
func ExampleRenderer() {
	render := errorsx.NewRenderer(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models/{id}", func(w http.ResponseWriter, r *http.Request) {
		err := errorsx.NotFound().WithParam("model").WithMessage("model " + r.PathValue("id") + " does not exist")
		render.Write(w, r, r.Pattern, err)
	})

	req := httptest.NewRequest(http.MethodGet, "/v1/models/clipia-x", nil)
	req.Header.Set("X-Request-Id", "req_123")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)

	fmt.Println(rec.Code, rec.Header().Get("X-Request-Id"), rec.Header().Get("X-Should-Retry"))
	fmt.Println(rec.Body.String())
	// Output:
	// 404 req_123 false
	// {"error":{"type":"invalid_request_error","code":"not_found","message":"model clipia-x does not exist","param":"model"}}
}
