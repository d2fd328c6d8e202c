package doors

import (
	"net/http"
	"strings"
	"testing"

	"github.com/clipia/apiguard/middleware/echo4"
	"github.com/labstack/echo/v4"
)

// Echo4 is the Echo v4 door (middleware/echo4).
var Echo4 = Door{Name: "echo4", New: newEcho4}

func newEcho4(tb testing.TB, s Spec) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	echo4.Install(e, echo4.Config{Errors: s.Errors, Use: s.Use})
	var g *echo.Group
	if s.GroupPrefix != "" {
		g = e.Group(s.GroupPrefix, echo4.Use(s.Group...))
	}
	for _, rt := range s.Routes {
		h := rt.Handler
		handler := func(c echo.Context) error { return h(c.Response(), c.Request(), c) }
		mw := []echo.MiddlewareFunc{echo4.Use(rt.Guards...)}
		if g != nil && strings.HasPrefix(rt.Path, s.GroupPrefix) {
			g.Add(rt.Method, echoPath(strings.TrimPrefix(rt.Path, s.GroupPrefix)), handler, mw...)
			continue
		}
		e.Add(rt.Method, echoPath(rt.Path), handler, mw...)
	}
	return e
}

// echoPath spells a canonical path the Echo way: {id} → :id.
func echoPath(p string) string {
	var b strings.Builder
	for i, seg := range strings.Split(p, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			seg = ":" + seg[1:len(seg)-1]
		}
		b.WriteString(seg)
	}
	return b.String()
}
