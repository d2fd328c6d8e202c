// Package echo5 is apiguard's Echo v5 front door (github.com/labstack/echo/v5):
// the error handler of the one renderer and every guard as an
// echo.MiddlewareFunc over *echo.Context.
package echo5
