package doors

import (
	"net/http"
	"strings"
	"testing"

	"github.com/clipia/apiguard/middleware/gin1"
	"github.com/gin-gonic/gin"
)

// Gin is the gin door (middleware/gin1).
var Gin = Door{Name: "gin", New: newGin}

func newGin(tb testing.TB, s Spec) http.Handler {
	gin.SetMode(gin.TestMode)
	engine := gin.New()
	h := gin1.Install(engine, gin1.Config{Errors: s.Errors, Use: s.Use})
	var g *gin.RouterGroup
	if s.GroupPrefix != "" {
		g = engine.Group(s.GroupPrefix, gin1.Use(s.Group...))
	}
	for _, rt := range s.Routes {
		h := rt.Handler
		handler := gin1.Handle(func(c *gin.Context) error { return h(c.Writer, c.Request, c) })
		use := gin1.Use(rt.Guards...)
		if g != nil && strings.HasPrefix(rt.Path, s.GroupPrefix) {
			g.Handle(rt.Method, echoPath(strings.TrimPrefix(rt.Path, s.GroupPrefix)), use, handler)
			continue
		}
		engine.Handle(rt.Method, echoPath(rt.Path), use, handler)
	}
	return h
}
