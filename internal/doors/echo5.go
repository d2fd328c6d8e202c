package doors

import (
	"net/http"
	"strings"
	"testing"

	"github.com/clipia/apiguard/middleware/echo5"
	"github.com/labstack/echo/v5"
)

// Echo5 is the Echo v5 door (middleware/echo5).
var Echo5 = Door{Name: "echo5", New: newEcho5}

func newEcho5(tb testing.TB, s Spec) http.Handler {
	e := echo.New()
	echo5.Install(e, echo5.Config{Errors: s.Errors, Use: s.Use})
	var g *echo.Group
	if s.GroupPrefix != "" {
		g = e.Group(s.GroupPrefix, echo5.Use(s.Group...))
	}
	for _, rt := range s.Routes {
		h := rt.Handler
		handler := func(c *echo.Context) error { return h(c.Response(), c.Request(), c) }
		mw := []echo.MiddlewareFunc{echo5.Use(rt.Guards...)}
		if g != nil && strings.HasPrefix(rt.Path, s.GroupPrefix) {
			g.Add(rt.Method, echoPath(strings.TrimPrefix(rt.Path, s.GroupPrefix)), handler, mw...)
			continue
		}
		e.Add(rt.Method, echoPath(rt.Path), handler, mw...)
	}
	return e
}
