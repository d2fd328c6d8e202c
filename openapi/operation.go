package openapi

import (
	"slices"

	"github.com/clipia/apiguard/errorsx"
)

// Describer is implemented by a guard that adds to the operations it
// guards: a security requirement, error rows, response headers, request
// parameters or a request body. Every core guard implements it; a guard
// that does not is left out of the document. Describe is called once per
// operation when a document is built, never per request.
type Describer interface {
	Describe(op *Operation)
}

// Operation is one route of the API as the document describes it. The
// builder fills Method and Path, then hands it to the describers of the
// route's guards, in the order they run, then adds what the route's
// handler declares ([Route]). Describers read Method and Path and add with
// the methods of Operation; they must not keep op.
type Operation struct {
	// Method is the HTTP method, upper case ("GET").
	Method string
	// Path is the route in the canonical template spelling
	// ("/v1/generations/{id}").
	Path string
	// ID, Summary, Description and Tags are the route's ([Route]);
	// describers may change them.
	ID, Summary, Description string
	Tags                     []string

	codes     []errorsx.Code // the error rows, in catalogue order
	responses []Response     // what the handler answers on success
	headers   []Header       // on every response
	params    []Parameter
	body      *RequestBody
	security  []SecurityScheme // alternatives: any one of them
	notes     []string
	ext       map[string]any
}

// Errors records that the operation can answer with the rows of codes
// (each status once in the document: two rows of one status, such as the
// two 409s, share its response, told apart by code). Repeated codes count
// once. A code not in the catalogue makes the build fail.
func (op *Operation) Errors(codes ...errorsx.Code) {
	for _, c := range codes {
		if !slices.Contains(op.codes, c) {
			op.codes = append(op.codes, c)
		}
	}
}

// Respond records responses the operation answers with (its successes).
// A later response of the same status replaces an earlier one.
func (op *Operation) Respond(rs ...Response) {
	for _, r := range rs {
		i := slices.IndexFunc(op.responses, func(x Response) bool { return x.Status == r.Status })
		if i >= 0 {
			op.responses[i] = r
		} else {
			op.responses = append(op.responses, r)
		}
	}
}

// Header records headers that may come on every response of the
// operation, errors included (RateLimit, Idempotent-Replayed). A header of
// a name already recorded is ignored.
func (op *Operation) Header(hs ...Header) {
	for _, h := range hs {
		if !slices.ContainsFunc(op.headers, func(x Header) bool { return x.Name == h.Name }) {
			op.headers = append(op.headers, h)
		}
	}
}

// Param records request parameters (headers, query or path parameters). A
// parameter of a name and location already recorded is replaced.
func (op *Operation) Param(ps ...Parameter) {
	for _, p := range ps {
		i := slices.IndexFunc(op.params, func(x Parameter) bool { return x.Name == p.Name && x.In == p.In })
		if i >= 0 {
			op.params[i] = p
		} else {
			op.params = append(op.params, p)
		}
	}
}

// Body records the request body; a later call replaces it.
func (op *Operation) Body(b RequestBody) { op.body = &b }

// Secure records security schemes of which a request must satisfy one
// (alternatives, as OpenAPI's security list means). A scheme of a name
// already recorded is ignored.
func (op *Operation) Secure(schemes ...SecurityScheme) {
	for _, s := range schemes {
		if !slices.ContainsFunc(op.security, func(x SecurityScheme) bool { return x.Name == s.Name }) {
			op.security = append(op.security, s)
		}
	}
}

// Note adds a sentence to the operation's description ("Requires the
// scope models:read.").
func (op *Operation) Note(sentence string) { op.notes = append(op.notes, sentence) }

// Extension sets an extension member of the operation object; name must
// start with "x-" (else the build fails). A later value replaces an
// earlier one.
func (op *Operation) Extension(name string, value any) {
	if op.ext == nil {
		op.ext = map[string]any{}
	}
	op.ext[name] = value
}

// Statuses returns every status the operation answers with, successes and
// error rows, in increasing order.
func (op *Operation) Statuses() []int {
	var out []int
	for _, r := range op.responses {
		out = append(out, r.Status)
	}
	for _, c := range op.codes {
		if row, ok := errorsx.Lookup(c); ok {
			out = append(out, row.Status)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Codes returns the error rows the operation answers with, in the order
// they were recorded.
func (op *Operation) Codes() []errorsx.Code { return slices.Clone(op.codes) }

// Response is a response an operation answers with, usually a success
// declared by the handler ([JSON] builds one from a Go value).
type Response struct {
	// Status is the HTTP status, e.g. 200 or 201.
	Status int
	// Description says what the response means. Empty: the status text.
	Description string
	// ContentType is the media type of the body. Empty with a Schema:
	// "application/json"; empty without one: no body.
	ContentType string
	// Schema is the body's schema; nil with a ContentType: any body.
	Schema *Schema
	// Headers are headers of this response only.
	Headers []Header
}

// Header is a response header.
type Header struct {
	// Name is the header's name, e.g. "RateLimit".
	Name string
	// Description says what it carries.
	Description string
	// Required says it is always sent on the responses it is listed on.
	Required bool
	// Schema is its value's schema. Nil: a string.
	Schema *Schema
}

// Parameter is a request parameter.
type Parameter struct {
	// Name is the parameter's name: a header name, a query key or a path
	// parameter of the template.
	Name string
	// In is "header", "query" or "path".
	In string
	// Description says what it carries.
	Description string
	// Required says the request must carry it (path parameters always do).
	Required bool
	// Schema is its value's schema. Nil: a string.
	Schema *Schema
}

// RequestBody is the request body of an operation.
type RequestBody struct {
	// Description says what the body is.
	Description string
	// Required says a request must send one.
	Required bool
	// ContentType is its media type. Empty: "application/json".
	ContentType string
	// Schema is its schema. When Name is set, the schema is put in
	// components/schemas under Name (a different schema of the same name
	// gets a numbered name) and referred to.
	Schema *Schema
	// Name is the schema's name in components/schemas; empty: inline.
	Name string
}

// SecurityScheme is a way a request authenticates (OpenAPI's Security
// Scheme Object), put in components/securitySchemes under Name.
type SecurityScheme struct {
	// Name is its key in components/securitySchemes, e.g. "bearerAuth".
	Name string
	// Type is "http" or "apiKey".
	Type string
	// Scheme is the HTTP authentication scheme of an "http" scheme,
	// e.g. "bearer".
	Scheme string
	// Header is the header an "apiKey" scheme is read from, e.g.
	// "X-API-Key".
	Header string
	// Description says how to use it.
	Description string
}
