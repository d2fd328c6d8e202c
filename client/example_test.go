package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/clipia/apiguard/client"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/middleware/echo4"
	"github.com/labstack/echo/v4"
)

// exampleServer is an API built with apiguard whose handler fails with err.
func exampleServer(handler echo.HandlerFunc) *httptest.Server {
	e := echo.New()
	e.HTTPErrorHandler = echo4.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	e.Any("/v1/generations", handler)
	return httptest.NewServer(e)
}

func ExampleParse() {
	srv := exampleServer(func(c echo.Context) error {
		return errorsx.NotFound().WithParam("model").WithMessage("model clipia-x does not exist")
	})
	defer srv.Close()

	res, err := http.Get(srv.URL + "/v1/generations")
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	apiErr, err := client.Parse(res)
	if err != nil {
		panic(err) // the body was not an error document; err says what arrived
	}
	fmt.Println(apiErr.Status, apiErr.Code, apiErr.Type)
	fmt.Println(apiErr.Message, "| param:", apiErr.Param)
	fmt.Println("retryable:", apiErr.Retryable())
	fmt.Println("is not_found:", errors.Is(apiErr, errorsx.NotFound()))
	// Output:
	// 404 not_found invalid_request_error
	// model clipia-x does not exist | param: model
	// retryable: false
	// is not_found: true
}

func ExampleCheckResponse() {
	srv := exampleServer(func(c echo.Context) error { return errorsx.InsufficientCredits() })
	defer srv.Close()

	res, err := http.Post(srv.URL+"/v1/generations", "application/json", strings.NewReader(`{"model":"clipia-pro"}`))
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	err = client.CheckResponse(res)
	switch {
	case err == nil:
		fmt.Println("created")
	case errors.Is(err, errorsx.InsufficientCredits()):
		fmt.Println("top up first:", err.(*client.APIError).Message)
	default:
		fmt.Println("failed:", err)
	}
	// Output:
	// top up first: Not enough credits for this generation. Please top up your balance.
}

func ExampleParse_notAnErrorDocument() {
	res := &http.Response{
		StatusCode: http.StatusBadGateway,
		Header:     http.Header{"Content-Type": {"text/html"}},
		Body:       io.NopCloser(strings.NewReader("<html><h1>502 Bad Gateway</h1></html>")),
	}
	_, err := client.Parse(res)
	fmt.Println(err)
	fmt.Println("classified as service_unavailable:", errors.Is(err, errorsx.ServiceUnavailable()))
	// Output:
	// client: 502 response is not an error document (HTML, not JSON): Content-Type "text/html", body "<html><h1>502 Bad Gateway</h1></html>"
	// classified as service_unavailable: true
}

func ExampleAPIError_Err() {
	// A newer server sends a code this client does not know.
	res := &http.Response{
		StatusCode: http.StatusConflict,
		Header:     http.Header{"X-Should-Retry": {"false"}},
		Body: io.NopCloser(strings.NewReader(
			`{"error":{"type":"conflict_error","code":"generation_locked","message":"The generation is being edited."}}`)),
	}
	apiErr, err := client.Parse(res)
	if err != nil {
		panic(err)
	}
	fmt.Println("as sent:", apiErr.Status, apiErr.Code, apiErr.Type)
	fmt.Println("known:", apiErr.Known())
	fmt.Println("classified:", apiErr.Err().Code(), "retryable:", apiErr.Retryable())
	// Output:
	// as sent: 409 generation_locked conflict_error
	// known: false
	// classified: idempotency_key_reuse retryable: false
}

func ExampleTransport() {
	// The server is down for the first two attempts, then creates the
	// generation; it answers 503 with Retry-After: 1 meanwhile.
	attempts, keys := 0, map[string]bool{}
	srv := exampleServer(func(c echo.Context) error {
		attempts++
		keys[c.Request().Header.Get("Idempotency-Key")] = true
		if attempts <= 2 {
			return errorsx.ServiceUnavailable().WithRetryAfter(time.Second)
		}
		return c.JSON(http.StatusCreated, map[string]string{"id": "gen_1"})
	})
	defer srv.Close()

	t, err := client.NewTransport(client.TransportConfig{
		// Tests and examples need not wait for real; production leaves
		// Sleep nil.
		Sleep: func(ctx context.Context, d time.Duration) error {
			fmt.Println("waiting", d)
			return nil
		},
	})
	if err != nil {
		panic(err)
	}
	hc := &http.Client{Transport: t}
	res, err := hc.Post(srv.URL+"/v1/generations", "application/json", strings.NewReader(`{"model":"clipia-fast","prompt":"a cat"}`))
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	fmt.Println(res.StatusCode, "after", attempts, "attempts, one Idempotency-Key:", len(keys) == 1)
	// Output:
	// waiting 1s
	// waiting 1s
	// 201 after 3 attempts, one Idempotency-Key: true
}
