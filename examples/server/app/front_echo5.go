package app

import (
	"net/http"

	"github.com/clipia/apiguard/middleware/echo5"
	"github.com/labstack/echo/v5"
)

// frontEcho5 mounts the app's guards and handlers on Echo v5
// (middleware/echo5).
func frontEcho5(st *stack, h *handlers) (http.Handler, []string) {
	e := echo.New()
	echo5.Install(e, echo5.Config{Errors: st.errors, Use: st.request})
	handle := func(fn handlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error { return fn(c.Response(), call{r: c.Request(), param: c.Param}) }
	}

	e.GET("/healthz", handle(h.healthz), echo5.Use(st.open...))
	e.GET(metricsPath, handle(h.serveMetrics), echo5.Use(st.open...))
	e.GET(openAPIPath, handle(h.openAPI), echo5.Use(st.open...))
	v1 := e.Group("/v1", echo5.Use(st.v1...))
	v1.GET("/models", handle(h.listModels), echo5.Use(st.modelsRead...))
	v1.GET("/models/:id", handle(h.getModel), echo5.Use(st.modelsRead...))
	v1.POST("/generations", handle(h.createGeneration), echo5.Use(st.createGeneration...))
	v1.GET("/generations/:id", handle(h.getGeneration), echo5.Use(st.generationsRead...))
	v1.GET("/balance", handle(h.balance), echo5.Use(st.generationsRead...))
	return e, echo5.Patterns(e)
}
