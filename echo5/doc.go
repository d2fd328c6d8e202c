// Package echo5 is apiguard's Echo v5 front door (github.com/labstack/echo/v5):
// the error handler of the one renderer (errorsx.Renderer), the request id,
// panic recovery, HEAD, the header-size limit, and every guard as an
// echo.MiddlewareFunc over *echo.Context. It only translates: the contract
// lives in errorsx and the guards' core packages, so a request answers
// with the same status, headers and bytes here as on Echo v4 (package
// middleware) and net/http (package nethttp).
//
// Every middleware here returns errors; none writes an error response
// itself. Install [ErrorHandler] as the Echo HTTPErrorHandler so that each
// error is rendered as the contract's envelope:
//
//	e := echo.New()
//	e.HTTPErrorHandler = echo5.ErrorHandler(errorsx.HandlerConfig{Logger: logger})
//	e.Pre(echo5.Must(echo5.Head(echo5.HeadConfig{})))
//	e.Use(echo5.Must(echo5.RequestID(echo5.RequestIDConfig{})))
//	e.Use(echo5.Must(echo5.Recover(echo5.RecoverConfig{})))
//	e.Use(echo5.Must(echo5.HeaderLimit(echo5.HeaderLimitConfig{})))
//
// Skip predicates take the *http.Request (Skip func(*http.Request) bool),
// as in every front door. A guard answers a request that matched no route
// 404 not_found before anything else ([RouteMatched]).
package echo5
