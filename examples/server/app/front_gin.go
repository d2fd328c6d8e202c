package app

import (
	"net/http"
	"net/url"

	"github.com/clipia/apiguard/middleware/gin1"
	"github.com/gin-gonic/gin"
)

// frontGin mounts the app's guards and handlers on gin (middleware/gin1).
func frontGin(st *stack, h *handlers) (http.Handler, []string) {
	e := gin.New()
	handler := gin1.Install(e, gin1.Config{Errors: st.errors, Use: st.request})
	handle := func(fn handlerFunc) gin.HandlerFunc {
		return gin1.Handle(func(c *gin.Context) error {
			// gin hands path parameters over decoded: re-escaped, see pathParam.
			param := func(name string) string { return url.PathEscape(c.Param(name)) }
			return fn(c.Writer, call{r: c.Request, param: param})
		})
	}

	e.GET("/healthz", gin1.Use(st.open...), handle(h.healthz))
	e.GET(metricsPath, gin1.Use(st.open...), handle(h.serveMetrics))
	e.GET(openAPIPath, gin1.Use(st.open...), handle(h.openAPI))
	v1 := e.Group("/v1", gin1.Use(st.v1...))
	v1.GET("/models", gin1.Use(st.modelsRead...), handle(h.listModels))
	v1.GET("/models/:id", gin1.Use(st.modelsRead...), handle(h.getModel))
	v1.POST("/generations", gin1.Use(st.createGeneration...), handle(h.createGeneration))
	v1.GET("/generations/:id", gin1.Use(st.generationsRead...), handle(h.getGeneration))
	v1.GET("/balance", gin1.Use(st.generationsRead...), handle(h.balance))
	return handler, gin1.Patterns(e)
}
