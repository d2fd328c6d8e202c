package guard

import (
	"slices"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/pattern"
	"github.com/clipia/apiguard/openapi"
)

// Describe describes each guard of the chain that describes itself
// (openapi.Describer), in order.
func (c *chain) Describe(op *openapi.Operation) {
	for _, g := range c.gs {
		if d, ok := g.(openapi.Describer); ok {
			d.Describe(op)
		}
	}
}

// Describe adds the X-Request-Id header (and Request-Id with
// SendRequestID) to every response of op: required, unless a Skip may skip
// the guard.
func (g *requestID) Describe(op *openapi.Operation) {
	always := g.cfg.Skip == nil
	op.Header(openapi.Header{
		Name:        errorsx.HeaderRequestID,
		Description: "The request id: the incoming X-Request-Id when it is a sane token, else a new UUID. Quote it to support.",
		Required:    always,
		Schema:      &openapi.Schema{Type: "string", MinLength: one()},
	})
	if g.cfg.SendRequestID {
		op.Header(openapi.Header{
			Name:        errorsx.HeaderRequestIDStripe,
			Description: "The request id again, under the name stripe-go reads.",
			Required:    always,
			Schema:      &openapi.Schema{Type: "string", MinLength: one()},
		})
	}
}

func one() *int64 { n := int64(1); return &n }

// Describe adds 500 internal_error: a panic anywhere in the chain.
func (g *recoverer) Describe(op *openapi.Operation) { op.Errors(errorsx.CodeInternal) }

// Describe adds 400 invalid_request: headers over the limit.
func (g *headerLimit) Describe(op *openapi.Operation) { op.Errors(errorsx.CodeInvalidRequest) }

// Patterns returns the routes rs of a router as sorted "METHOD /template"
// patterns (Template's spelling), for openapi.Check: route gives the method
// and the path of one route. Methods an OpenAPI document cannot list (a
// router's own pseudo-methods, such as Echo's route-not-found entries) are
// left out; repeated routes count once. The doors' Patterns functions use
// it.
func Patterns[R any](rs []R, route func(R) (method, path string)) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		m, p := route(r)
		switch m {
		case "GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE":
			out = append(out, m+" "+pattern.Template(p))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
