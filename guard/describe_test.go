package guard_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/openapi"
)

// TestPatterns: a router's routes as sorted canonical patterns, its
// pseudo-methods left out, repeats once.
func TestPatterns(t *testing.T) {
	type route struct{ method, path string }
	rs := []route{
		{"POST", "/v1/generations"},
		{"GET", "/v1/models/:id"},
		{"echo_route_not_found", "/v1/*"},
		{"GET", "/v1/files/{id:[0-9]+}"},
		{"GET", "/v1/models/:id"},
		{"PROPFIND", "/dav"},
	}
	got := guard.Patterns(rs, func(r route) (string, string) { return r.method, r.path })
	if want := "[GET /v1/files/{id} GET /v1/models/{id} POST /v1/generations]"; fmt.Sprint(got) != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

// TestChainDescribes: a chain describes each of its guards that describe
// themselves, in order; the request-level guards add their parts.
func TestChainDescribes(t *testing.T) {
	plain := guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error { return c.Next(w, r) })
	rec := guard.Must(guard.Recover(guard.RecoverConfig{}))
	limit := guard.Must(guard.HeaderLimit(guard.HeaderLimitConfig{}))
	c := guard.Chain(guard.RequestID(guard.RequestIDConfig{SendRequestID: true}), plain, guard.Chain(rec, limit))
	d, ok := c.(openapi.Describer)
	if !ok {
		t.Fatal("a chain does not describe itself")
	}
	op := &openapi.Operation{Method: "GET", Path: "/x"}
	d.Describe(op)
	if got := fmt.Sprint(op.Statuses()); got != "[400 500]" {
		t.Errorf("got statuses %s, want [400 500]", got)
	}
	api := &openapi.API{Routes: []openapi.Route{{Method: "GET", Path: "/x", Guards: openapi.Guards([]guard.Guard{c})}}}
	doc, err := api.JSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{`"X-Request-Id": {`, `"Request-Id": {`} {
		if !contains(doc, h) {
			t.Errorf("the document has no %s header", h)
		}
	}
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }
