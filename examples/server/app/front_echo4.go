package app

import (
	"net/http"

	"github.com/clipia/apiguard/middleware/echo4"
	"github.com/labstack/echo/v4"
)

// frontEcho4 mounts the app's guards and handlers on Echo v4
// (middleware/echo4).
func frontEcho4(st *stack, h *handlers) (http.Handler, []string) {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	echo4.Install(e, echo4.Config{Errors: st.errors, Use: st.request})
	handle := func(fn handlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error { return fn(c.Response(), call{r: c.Request(), param: c.Param}) }
	}

	e.GET("/healthz", handle(h.healthz), echo4.Use(st.open...))
	e.GET(metricsPath, handle(h.serveMetrics), echo4.Use(st.open...))
	e.GET(openAPIPath, handle(h.openAPI), echo4.Use(st.open...))
	v1 := e.Group("/v1", echo4.Use(st.v1...))
	v1.GET("/models", handle(h.listModels), echo4.Use(st.modelsRead...))
	v1.GET("/models/:id", handle(h.getModel), echo4.Use(st.modelsRead...))
	v1.POST("/generations", handle(h.createGeneration), echo4.Use(st.createGeneration...))
	v1.GET("/generations/:id", handle(h.getGeneration), echo4.Use(st.generationsRead...))
	v1.GET("/balance", handle(h.balance), echo4.Use(st.generationsRead...))
	return e, echo4.Patterns(e)
}
