package openapi_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/middleware/chi5"
	"github.com/clipia/apiguard/middleware/echo4"
	"github.com/clipia/apiguard/middleware/echo5"
	"github.com/clipia/apiguard/middleware/gin1"
	"github.com/clipia/apiguard/middleware/nethttp"
	"github.com/clipia/apiguard/openapi"
	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	echov4 "github.com/labstack/echo/v4"
	echov5 "github.com/labstack/echo/v5"
)

// TestDoorPatterns: each door lists what its router serves, groups with
// guards included and the routers' own entries left out, in the spelling
// openapi.Check compares.
func TestDoorPatterns(t *testing.T) {
	pass := guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error { return c.Next(w, r) })
	want := []string{"GET /healthz", "GET /v1/items/{id}", "POST /v1/items"}
	ok := []openapi.Response{{Status: 200}}
	api := &openapi.API{Routes: []openapi.Route{
		{Method: "GET", Path: "/healthz", Responses: ok},
		{Method: "GET", Path: "/v1/items/{id}", Responses: ok},
		{Method: "POST", Path: "/v1/items", Responses: ok},
	}}

	e4 := echov4.New()
	echo4.Install(e4, echo4.Config{})
	h4 := func(echov4.Context) error { return nil }
	e4.GET("/healthz", h4)
	g4 := e4.Group("/v1", echo4.Use(pass))
	g4.GET("/items/:id", h4)
	g4.POST("/items", h4, echo4.Use(pass))

	e5 := echov5.New()
	echo5.Install(e5, echo5.Config{})
	h5 := func(*echov5.Context) error { return nil }
	e5.GET("/healthz", h5)
	g5 := e5.Group("/v1", echo5.Use(pass))
	g5.GET("/items/:id", h5)
	g5.POST("/items", h5)

	gin.SetMode(gin.ReleaseMode)
	eg := gin.New()
	gin1.Install(eg, gin1.Config{})
	hg := gin1.Handle(func(*gin.Context) error { return nil })
	eg.GET("/healthz", hg)
	gg := eg.Group("/v1", gin1.Use(pass))
	gg.GET("/items/:id", hg)
	gg.POST("/items", hg)

	mux := chi.NewRouter()
	hc := nethttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return errorsx.NotFound() })
	mux.Method(http.MethodGet, "/healthz", hc)
	mux.Route("/v1", func(r chi.Router) {
		r.Use(nethttp.Use(pass))
		r.Method(http.MethodGet, "/items/{id:[0-9]+}", hc)
		r.Method(http.MethodPost, "/items", hc)
	})

	for name, got := range map[string][]string{
		"echo4": echo4.Patterns(e4),
		"echo5": echo5.Patterns(e5),
		"gin1":  gin1.Patterns(eg),
		"chi5":  chi5.Patterns(mux),
	} {
		if !slices.Equal(got, want) {
			t.Errorf("%s lists %q, want %q", name, got, want)
		}
		if err := api.Check(got); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
