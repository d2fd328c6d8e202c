package contracttest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// The subset of an OpenAPI 3.1 document that Run reads.

type document struct {
	OpenAPI  string                                `json:"openapi"`
	Servers  []server                              `json:"servers"`
	Security []map[string][]string                 `json:"security"`
	Paths    map[string]*pathItem                  `json:"paths"`
	Comps    components                            `json:"components"`
	raw      map[string]map[string]json.RawMessage // components by kind and name, for $ref
}

type server struct {
	URL string `json:"url"`
}

type components struct {
	SecuritySchemes map[string]*securityScheme `json:"securitySchemes"`
}

type securityScheme struct {
	Ref    string `json:"$ref"`
	Type   string `json:"type"`   // http, apiKey, …
	Scheme string `json:"scheme"` // bearer, for http
	In     string `json:"in"`     // header, for apiKey
	Name   string `json:"name"`   // the header, for apiKey
}

type pathItem struct {
	Parameters []*parameter `json:"parameters"`
	Get        *operation   `json:"get"`
	Put        *operation   `json:"put"`
	Post       *operation   `json:"post"`
	Delete     *operation   `json:"delete"`
	Options    *operation   `json:"options"`
	Head       *operation   `json:"head"`
	Patch      *operation   `json:"patch"`
	Trace      *operation   `json:"trace"`
}

// operations returns the operations of p by method, in a fixed order.
func (p *pathItem) operations() []struct {
	method string
	op     *operation
} {
	all := []struct {
		method string
		op     *operation
	}{{"GET", p.Get}, {"HEAD", p.Head}, {"POST", p.Post}, {"PUT", p.Put}, {"PATCH", p.Patch},
		{"DELETE", p.Delete}, {"OPTIONS", p.Options}, {"TRACE", p.Trace}}
	return slices.DeleteFunc(all, func(m struct {
		method string
		op     *operation
	}) bool {
		return m.op == nil
	})
}

type operation struct {
	OperationID string                 `json:"operationId"`
	Parameters  []*parameter           `json:"parameters"`
	RequestBody *requestBody           `json:"requestBody"`
	Responses   map[string]*response   `json:"responses"`
	Security    *[]map[string][]string `json:"security"`
}

type parameter struct {
	Ref      string          `json:"$ref"`
	Name     string          `json:"name"`
	In       string          `json:"in"`
	Required bool            `json:"required"`
	Schema   *schema         `json:"schema"`
	Example  json.RawMessage `json:"example"`
}

type requestBody struct {
	Ref      string                `json:"$ref"`
	Required bool                  `json:"required"`
	Content  map[string]*mediaType `json:"content"`
}

type mediaType struct {
	Schema  *schema         `json:"schema"`
	Example json.RawMessage `json:"example"`
}

type response struct {
	Ref     string                `json:"$ref"`
	Headers map[string]*header    `json:"headers"`
	Content map[string]*mediaType `json:"content"`
}

type header struct {
	Ref      string `json:"$ref"`
	Required bool   `json:"required"`
}

// schema is a JSON Schema (2020-12, as OpenAPI 3.1 uses it), the keywords
// that say what a valid value looks like.
type schema struct {
	Ref                  string             `json:"$ref"`
	Type                 typeList           `json:"type"`
	Properties           map[string]*schema `json:"properties"`
	Required             []string           `json:"required"`
	AdditionalProperties json.RawMessage    `json:"additionalProperties"`
	Items                *schema            `json:"items"`
	Enum                 []json.RawMessage  `json:"enum"`
	Const                json.RawMessage    `json:"const"`
	Default              json.RawMessage    `json:"default"`
	Example              json.RawMessage    `json:"example"`
	Examples             []json.RawMessage  `json:"examples"`
	Format               string             `json:"format"`
	Pattern              string             `json:"pattern"`
	MinLength            *int               `json:"minLength"`
	MaxLength            *int               `json:"maxLength"`
	Minimum              *float64           `json:"minimum"`
	Maximum              *float64           `json:"maximum"`
	ExclusiveMinimum     *float64           `json:"exclusiveMinimum"`
	ExclusiveMaximum     *float64           `json:"exclusiveMaximum"`
	MinItems             *int               `json:"minItems"`
	AllOf                []*schema          `json:"allOf"`
	OneOf                []*schema          `json:"oneOf"`
	AnyOf                []*schema          `json:"anyOf"`
}

// typeList is a schema's type: one name or a list of names.
type typeList []string

// UnmarshalJSON reads "string" or ["string","null"].
func (t *typeList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*t = typeList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*t = many
	return nil
}

// main is the first type that is not "null", or "".
func (t typeList) main() string {
	for _, s := range t {
		if s != "null" {
			return s
		}
	}
	return ""
}

// parseDocument reads doc.
func parseDocument(doc []byte) (*document, error) {
	var d document
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("the document is not an OpenAPI JSON document: %v", err)
	}
	if !strings.HasPrefix(d.OpenAPI, "3.") {
		return nil, fmt.Errorf("the document's openapi is %q, want an OpenAPI 3.x version (3.1.0)", d.OpenAPI)
	}
	if len(d.Paths) == 0 {
		return nil, errors.New("the document has no paths: nothing to probe")
	}
	var raw struct {
		Components map[string]map[string]json.RawMessage `json:"components"`
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		return nil, fmt.Errorf("reading components: %v", err)
	}
	d.raw = raw.Components
	return &d, nil
}

// basePath is the path of the first server's URL ("https://api.example/v1"
// and "/v1" give "/v1"), or "".
func (d *document) basePath() string {
	if len(d.Servers) == 0 {
		return ""
	}
	u, err := url.Parse(d.Servers[0].URL)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(u.Path, "/")
}

// resolve decodes the component that ref ("#/components/schemas/Name")
// names into v. It reports false for a ref it cannot follow (external, or
// missing), which Run treats as unknown.
func (d *document) resolve(ref string, v any) bool {
	rest, ok := strings.CutPrefix(ref, "#/components/")
	if !ok {
		return false
	}
	kind, name, ok := strings.Cut(rest, "/")
	if !ok {
		return false
	}
	name = strings.ReplaceAll(strings.ReplaceAll(name, "~1", "/"), "~0", "~")
	b, ok := d.raw[kind][name]
	if !ok {
		return false
	}
	return json.Unmarshal(b, v) == nil
}

// maxRefs bounds a chain of $refs, so a cycle ends.
const maxRefs = 16

func (d *document) schema(s *schema) *schema {
	for i := 0; s != nil && s.Ref != "" && i < maxRefs; i++ {
		var next schema
		if !d.resolve(s.Ref, &next) {
			return nil
		}
		s = &next
	}
	return s
}

func (d *document) parameter(p *parameter) *parameter {
	for i := 0; p != nil && p.Ref != "" && i < maxRefs; i++ {
		var next parameter
		if !d.resolve(p.Ref, &next) {
			return nil
		}
		p = &next
	}
	return p
}

func (d *document) requestBody(b *requestBody) *requestBody {
	for i := 0; b != nil && b.Ref != "" && i < maxRefs; i++ {
		var next requestBody
		if !d.resolve(b.Ref, &next) {
			return nil
		}
		b = &next
	}
	return b
}

func (d *document) response(r *response) *response {
	for i := 0; r != nil && r.Ref != "" && i < maxRefs; i++ {
		var next response
		if !d.resolve(r.Ref, &next) {
			return nil
		}
		r = &next
	}
	return r
}

func (d *document) header(h *header) *header {
	for i := 0; h != nil && h.Ref != "" && i < maxRefs; i++ {
		var next header
		if !d.resolve(h.Ref, &next) {
			return nil
		}
		h = &next
	}
	return h
}

func (d *document) securityScheme(name string) *securityScheme {
	s := d.Comps.SecuritySchemes[name]
	for i := 0; s != nil && s.Ref != "" && i < maxRefs; i++ {
		var next securityScheme
		if !d.resolve(s.Ref, &next) {
			return nil
		}
		s = &next
	}
	return s
}

// flatten merges the allOf parts of s into one object schema and follows
// the first branch of oneOf and anyOf, so that the properties and required
// fields a valid value needs are in one place.
func (d *document) flatten(s *schema) *schema {
	return d.flattenDepth(s, 0)
}

func (d *document) flattenDepth(s *schema, depth int) *schema {
	s = d.schema(s)
	if s == nil || depth > maxRefs {
		return s
	}
	if len(s.AllOf) == 0 && len(s.OneOf) == 0 && len(s.AnyOf) == 0 {
		return s
	}
	out := *s
	out.AllOf, out.OneOf, out.AnyOf = nil, nil, nil
	out.Properties = map[string]*schema{}
	for k, v := range s.Properties {
		out.Properties[k] = v
	}
	out.Required = slices.Clone(s.Required)
	parts := slices.Clone(s.AllOf)
	if len(s.OneOf) > 0 {
		parts = append(parts, s.OneOf[0])
	}
	if len(s.AnyOf) > 0 {
		parts = append(parts, s.AnyOf[0])
	}
	for _, p := range parts {
		p = d.flattenDepth(p, depth+1)
		if p == nil {
			continue
		}
		if len(out.Type) == 0 {
			out.Type = p.Type
		}
		for k, v := range p.Properties {
			if _, ok := out.Properties[k]; !ok {
				out.Properties[k] = v
			}
		}
		for _, r := range p.Required {
			if !slices.Contains(out.Required, r) {
				out.Required = append(out.Required, r)
			}
		}
		if out.AdditionalProperties == nil {
			out.AdditionalProperties = p.AdditionalProperties
		}
	}
	return &out
}

// closed reports whether s admits no property it does not name
// (additionalProperties: false).
func (s *schema) closed() bool {
	return s != nil && strings.TrimSpace(string(s.AdditionalProperties)) == "false"
}
