package bind

import (
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/openapi"
)

// Describe adds to op what the Binder reads and answers: the JSON request
// body where it reads one (see [BodyMode]), its schema reflected from T
// and its validator tags (openapi.Reflect; additionalProperties false with
// Config.Strict), put in components/schemas under T's name; the query and
// path parameters of T's `query` and `param` fields; 400 invalid_request;
// and with Config.Models 404 not_found (an unknown model), 422
// model_input_invalid and, unless the registry is a [MemoryModels], which
// cannot fail, 503 service_unavailable.
func (b *Binder[T]) Describe(op *openapi.Operation) { b.b.describe(op) }

func (b *binder) describe(op *openapi.Operation) {
	t := b.plan.t
	if b.reads(op.Method) {
		name := t.Name()
		if r, size := utf8.DecodeRuneInString(name); size > 0 {
			name = string(unicode.ToUpper(r)) + name[size:]
		}
		op.Body(openapi.RequestBody{
			Required: b.cfg.Body != BodyOptional,
			Schema:   openapi.Reflect(t, openapi.ReflectConfig{Validate: "validate", Strict: b.cfg.Strict}),
			Name:     name,
		})
	}
	for _, src := range [...]struct {
		in     string
		fields []paramField
	}{{"query", b.plan.query}, {"path", b.plan.path}} {
		for _, pf := range src.fields {
			f := t.FieldByIndex(pf.index)
			s := openapi.Reflect(pf.elem, openapi.ReflectConfig{Response: true})
			if pf.slice {
				s = &openapi.Schema{Type: "array", Items: s}
			}
			op.Param(openapi.Parameter{
				Name: pf.name, In: src.in, Schema: s,
				Required: src.in == "path" || hasRule(f.Tag.Get("validate"), "required"),
			})
		}
	}
	op.Errors(errorsx.CodeInvalidRequest)
	if b.cfg.Models != nil {
		op.Errors(errorsx.CodeNotFound, errorsx.CodeModelInputInvalid)
		if _, memory := b.cfg.Models.(*MemoryModels); !memory {
			op.Errors(errorsx.CodeServiceUnavailable)
		}
	}
}

// reads reports whether the Binder reads a body for method.
func (b *binder) reads(method string) bool {
	switch b.cfg.Body {
	case BodyRequired, BodyOptional:
		return true
	case BodyNone:
		return false
	}
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
}

// hasRule reports whether the validator tag holds rule before any dive.
func hasRule(tag, rule string) bool {
	here, _, _ := strings.Cut(tag, "dive")
	for _, r := range strings.Split(here, ",") {
		if r == rule {
			return true
		}
	}
	return false
}
