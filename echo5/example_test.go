package echo5_test

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"

	"github.com/clipia/apiguard/echo5"
	"github.com/clipia/apiguard/errorsx"
	"github.com/labstack/echo/v5"
)

// An Echo v5 app with the front door's basics: its own errors, its
// router's 404 and 405, and HEAD are answered as on every front door.
func ExampleErrorHandler() {
	e := echo.New()
	e.HTTPErrorHandler = echo5.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	e.Pre(echo5.Must(echo5.Head(echo5.HeadConfig{})))
	e.Use(echo5.Must(echo5.RequestID(echo5.RequestIDConfig{})))
	e.Use(echo5.Must(echo5.Recover(echo5.RecoverConfig{})))
	e.GET("/v1/credits", func(*echo.Context) error { return errorsx.InsufficientCredits() })

	for _, r := range [][2]string{{"GET", "/v1/credits"}, {"HEAD", "/v1/credits"}, {"DELETE", "/v1/credits"}} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(r[0], r[1], nil))
		fmt.Println(strings.TrimSpace(fmt.Sprint(r[0], " ", rec.Code, " ", rec.Header().Get("Content-Length"), " ", rec.Body)))
	}
	// Output:
	// GET 402 152 {"error":{"type":"invalid_request_error","code":"insufficient_credits","message":"Not enough credits for this generation. Please top up your balance."}}
	// HEAD 402 152
	// DELETE 404 111 {"error":{"type":"invalid_request_error","code":"not_found","message":"The requested resource was not found."}}
}
