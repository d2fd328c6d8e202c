package idempotency

import (
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/openapi"
)

// Describe adds to op, when the guard guards op's method: the
// Idempotency-Key header parameter (required with Config.Required), 400
// invalid_request for a bad (or, when required, missing) key, both 409s
// (idempotency_key_reuse and request_in_progress, one response told apart
// by code), 503 service_unavailable when the store fails (the guard fails
// closed), and the Idempotent-Replayed header on replayed responses.
func (g *Guard) Describe(op *openapi.Operation) {
	if !g.methods[op.Method] {
		return
	}
	desc := "A key of 1 to 255 printable ASCII characters (bare, or as a Structured Field string) that makes the request safe to retry: a retry with the same key and the same request is answered with the first response, replayed, and runs nothing again."
	if g.required {
		desc += " Required."
	}
	op.Param(openapi.Parameter{
		Name: HeaderIdempotencyKey, In: "header", Required: g.required, Description: desc,
		Schema: &openapi.Schema{Type: "string", MinLength: count(1), MaxLength: count(257)},
	})
	op.Errors(errorsx.CodeInvalidRequest, errorsx.CodeIdempotencyKeyReuse, errorsx.CodeRequestInProgress, errorsx.CodeServiceUnavailable)
	op.Header(openapi.Header{
		Name:        HeaderIdempotentReplayed,
		Description: "true on a response replayed for a retry of a request with the same Idempotency-Key.",
		Schema:      &openapi.Schema{Type: "string", Const: "true"},
	})
}

func count(n int64) *int64 { return &n }
