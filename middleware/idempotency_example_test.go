package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/middleware"
	"github.com/labstack/echo/v4"
)

func ExampleIdempotency() {
	store := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
	defer store.Close()

	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{})
	e.Use(middleware.Must(middleware.RequestID(middleware.RequestIDConfig{})), middleware.Must(middleware.Recover(middleware.RecoverConfig{})))
	e.Use(middleware.Must(middleware.Idempotency(idempotency.Config{Store: store, ClientIP: e.IPExtractor})))

	generations := 0
	e.POST("/v1/generations", func(c echo.Context) error {
		generations++
		return c.JSON(http.StatusCreated, map[string]any{"id": fmt.Sprintf("gen_%d", generations)})
	})

	send := func(body string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/generations", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "8e03978e-40d5-43e8-bc93-6894a57f9324")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		fmt.Printf("%d replayed=%q %s", rec.Code, rec.Header().Get("Idempotent-Replayed"), rec.Body)
		if rec.Body.Len() > 0 && !strings.HasSuffix(rec.Body.String(), "\n") {
			fmt.Println()
		}
	}
	send(`{"prompt":"a cat","duration":5}`)
	send(`{"duration":5, "prompt":"a cat"}`) // same fields, other order: replayed
	send(`{"prompt":"a dog","duration":5}`)  // same key, other request
	fmt.Println("generations:", generations)
	// Output:
	// 201 replayed="" {"id":"gen_1"}
	// 201 replayed="true" {"id":"gen_1"}
	// 409 replayed="" {"error":{"type":"idempotency_error","code":"idempotency_key_reuse","message":"This Idempotency-Key was already used with different parameters. Use a new key."}}
	// generations: 1
}
