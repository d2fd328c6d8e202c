package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/pattern"
)

// API is an HTTP API to document: its routes and the guards on each, as
// the app mounts them. Build its document with [API.JSON]; check it against
// the routes a router serves with [API.Check].
type API struct {
	// Title and Version are the document's info. Empty: "API" and "1.0.0".
	Title, Version string
	// Description is the document's description (CommonMark).
	Description string

	// Errors is the configuration of the app's renderer (errorsx.Renderer):
	// with ProblemJSON every error response also lists
	// application/problem+json; Realm and ProblemTypeBase show in the
	// examples.
	Errors errorsx.HandlerConfig

	// Guards describe every route: the request-level guards a door runs
	// before routing (guard.RequestID, guard.Recover, guard.HeaderLimit),
	// e.g. Guards(st.request).
	Guards []Describer

	// Routes are the API's routes.
	Routes []Route
}

// Route is one route of an [API]: what the app mounts on a door, and what
// its handler declares.
type Route struct {
	// Method is the HTTP method ("GET").
	Method string
	// Path is the route in any router's spelling ("/v1/models/:id",
	// "/v1/models/{id}"); the document uses the canonical template
	// ("/v1/models/{id}").
	Path string
	// ID is the operationId. Empty: the method and path in camel case
	// ("getV1ModelsId").
	ID string
	// Summary is a short summary; Description more (CommonMark).
	Summary, Description string
	// Tags group operations.
	Tags []string

	// Guards are the guards the app mounts on the route, group guards
	// first, in the order they run: Guards(st.v1, st.modelsRead).
	Guards []Describer

	// Responses are what the handler answers on success ([JSON]).
	Responses []Response
	// Errors are the rows only the handler answers (402, 404 for an
	// unknown id, 503): the guards describe their own.
	Errors []errorsx.Code
}

// Guards returns the elements of lists that describe themselves, in
// order: the guard lists an app mounts on a route, for [Route].Guards.
// A guard that does not implement [Describer] adds nothing; a guard.Chain
// describes each guard it holds.
//
//	Guards: openapi.Guards(st.v1, st.modelsRead),
func Guards[G any](lists ...[]G) []Describer {
	var out []Describer
	for _, l := range lists {
		for _, g := range l {
			if d, ok := any(g).(Describer); ok && d != nil {
				out = append(out, d)
			}
		}
	}
	return out
}

// JSON builds a [Response] whose body is the JSON form of v's type
// ([Reflect] with ReflectConfig.Response).
func JSON(status int, description string, v any) Response {
	return Response{
		Status:      status,
		Description: description,
		ContentType: "application/json",
		Schema:      Reflect(reflect.TypeOf(v), ReflectConfig{Response: true}),
	}
}

// Operations returns the operations of a, described: for each route in
// order, the API's guards, then the route's guards, then its handler's
// declarations. It returns an error for a route without a method or a
// path, or two routes of one method and template.
func (a *API) Operations() ([]*Operation, error) {
	var ops []*Operation
	seen := map[string]bool{}
	for _, r := range a.Routes {
		method := strings.ToUpper(r.Method)
		path := pattern.Template(r.Path)
		if method == "" || !strings.HasPrefix(path, "/") {
			return nil, fmt.Errorf("openapi: route %q %q: want a method and a path starting with /", r.Method, r.Path)
		}
		if !slices.Contains(methods, method) {
			return nil, fmt.Errorf("openapi: route %s %s: OpenAPI has no %s operation", method, path, method)
		}
		key := method + " " + path
		if seen[key] {
			return nil, fmt.Errorf("openapi: route %s listed twice", key)
		}
		seen[key] = true
		op := &Operation{Method: method, Path: path, ID: r.ID, Summary: r.Summary, Description: r.Description, Tags: slices.Clone(r.Tags)}
		for _, d := range a.Guards {
			d.Describe(op)
		}
		for _, d := range r.Guards {
			d.Describe(op)
		}
		op.Respond(r.Responses...)
		op.Errors(r.Errors...)
		ops = append(ops, op)
	}
	return ops, nil
}

// methods are the methods an OpenAPI path item has operations for.
var methods = []string{
	http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete,
	http.MethodOptions, http.MethodHead, http.MethodPatch, http.MethodTrace,
}

// Check reports whether the document lists exactly the routes a router
// serves: patterns are "METHOD /path" in any router's spelling, as the
// doors list them (echo4.Patterns, gin1.Patterns, chi5.Patterns, or the
// patterns registered on a ServeMux). It returns an error naming every
// route served but not documented, and documented but not served. Methods
// OpenAPI has no operation for, and HEAD (every door serves HEAD wherever
// it serves GET), are left out of the comparison.
func (a *API) Check(patterns []string) error {
	served := map[string]bool{}
	for _, p := range patterns {
		method, path, ok := strings.Cut(strings.TrimSpace(p), " ")
		method = strings.ToUpper(method)
		if !ok || method == http.MethodHead || !slices.Contains(methods, method) {
			continue
		}
		served[method+" "+pattern.Template(strings.TrimSpace(path))] = true
	}
	documented := map[string]bool{}
	for _, r := range a.Routes {
		documented[strings.ToUpper(r.Method)+" "+pattern.Template(r.Path)] = true
	}
	var errs []error
	for _, k := range sortedKeys(served) {
		if !documented[k] {
			errs = append(errs, fmt.Errorf("openapi: %s is served but not documented", k))
		}
	}
	for _, k := range sortedKeys(documented) {
		if !served[k] && !strings.HasPrefix(k, http.MethodHead+" ") {
			errs = append(errs, fmt.Errorf("openapi: %s is documented but not served", k))
		}
	}
	return errors.Join(errs...)
}

// JSON returns the OpenAPI 3.1 document of a, as indented JSON, paths and
// the members of every map sorted (the same bytes for the same API,
// whatever door serves it). Its components hold the error envelope of every row
// (errorsx.OpenAPI's schemas, headers and responses), the request body
// schemas, the response headers the guards describe and the security
// schemes; each operation's error responses point at the envelope schema
// of their rows. JSON returns an error when a route is malformed
// ([API.Operations]), names a code not in the catalogue, or sets an
// extension not starting with "x-".
func (a *API) JSON() ([]byte, error) {
	ops, err := a.Operations()
	if err != nil {
		return nil, err
	}
	b := &builder{}
	if err := b.components(a.Errors, ops); err != nil {
		return nil, err
	}
	paths := map[string]any{}
	for _, op := range ops {
		obj, err := b.operation(op)
		if err != nil {
			return nil, err
		}
		item, _ := paths[op.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[op.Path] = item
		}
		item[strings.ToLower(op.Method)] = obj
	}
	title, version := a.Title, a.Version
	if title == "" {
		title = "API"
	}
	if version == "" {
		version = "1.0.0"
	}
	info := map[string]any{"title": title, "version": version}
	if a.Description != "" {
		info["description"] = a.Description
	}
	doc := map[string]any{
		"openapi":    errorsx.OpenAPIVersion,
		"info":       info,
		"paths":      paths,
		"components": b.comp,
	}
	var buf bytes.Buffer
	buf.Grow(64 << 10)
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("openapi: encoding the document: %w", err)
	}
	return buf.Bytes(), nil
}

// builder assembles one document.
type builder struct {
	comp      map[string]any // components
	schemas   map[string]any
	headers   map[string]any
	responses map[string]any
	byCodes   map[string]string // "code" or "code1,code2" → components/responses name
}

// components starts the components from errorsx.OpenAPI's: the envelope
// schemas, the request id headers and one response per row (and per
// shared status), then adds the security schemes the operations use.
func (b *builder) components(errs errorsx.HandlerConfig, ops []*Operation) error {
	sendRequestID := false
	for _, op := range ops {
		for _, h := range op.headers {
			sendRequestID = sendRequestID || h.Name == errorsx.HeaderRequestIDStripe
		}
	}
	src := errorsx.OpenAPI(errorsx.OpenAPIConfig{HandlerConfig: errs, SendRequestID: sendRequestID})
	var base struct {
		Components map[string]any `json:"components"`
	}
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	if err := dec.Decode(&base); err != nil {
		return fmt.Errorf("openapi: reading errorsx's components: %w", err)
	}
	b.comp = base.Components
	b.schemas, _ = b.comp["schemas"].(map[string]any)
	b.headers, _ = b.comp["headers"].(map[string]any)
	b.responses, _ = b.comp["responses"].(map[string]any)
	b.byCodes = map[string]string{}
	for name, r := range b.responses {
		obj, _ := r.(map[string]any)
		if code, ok := obj["x-apiguard-code"].(string); ok {
			b.byCodes[code] = name
		}
		if codes, ok := obj["x-apiguard-codes"].([]any); ok {
			var ss []string
			for _, c := range codes {
				s, _ := c.(string)
				ss = append(ss, s)
			}
			b.byCodes[strings.Join(ss, ",")] = name
		}
	}
	schemes := map[string]any{}
	for _, op := range ops {
		for _, s := range op.security {
			if _, ok := schemes[s.Name]; ok {
				continue
			}
			obj := map[string]any{"type": s.Type}
			switch s.Type {
			case "http":
				obj["scheme"] = s.Scheme
			case "apiKey":
				obj["in"], obj["name"] = "header", s.Header
			}
			if s.Description != "" {
				obj["description"] = s.Description
			}
			schemes[s.Name] = obj
		}
	}
	if len(schemes) > 0 {
		b.comp["securitySchemes"] = schemes
	}
	return nil
}

// operation returns the operation object of op.
func (b *builder) operation(op *Operation) (map[string]any, error) {
	id := op.ID
	if id == "" {
		id = operationID(op)
	}
	obj := map[string]any{"operationId": id}
	for k, v := range op.ext {
		if !strings.HasPrefix(k, "x-") {
			return nil, fmt.Errorf("openapi: %s %s: extension %q does not start with x-", op.Method, op.Path, k)
		}
		obj[k] = v
	}
	if len(op.security) > 0 {
		var sec []any
		for _, s := range op.security {
			sec = append(sec, map[string]any{s.Name: []any{}})
		}
		obj["security"] = sec
	}

	// Parameters: the template's path parameters (strings unless a
	// describer said more), then the others in the order described.
	var params []any
	for _, name := range pathParams(op.Path) {
		p := Parameter{Name: name, In: "path", Required: true}
		if i := slices.IndexFunc(op.params, func(x Parameter) bool { return x.In == "path" && x.Name == name }); i >= 0 {
			p = op.params[i]
			p.Required = true
		}
		params = append(params, parameter(p))
	}
	for _, p := range op.params {
		if p.In != "path" {
			params = append(params, parameter(p))
		}
	}
	if len(params) > 0 {
		obj["parameters"] = params
	}
	if op.body != nil {
		body, err := b.requestBody(*op.body)
		if err != nil {
			return nil, err
		}
		obj["requestBody"] = body
	}

	responses := map[string]any{}
	for _, r := range op.responses {
		responses[strconv.Itoa(r.Status)] = b.success(r, op.headers)
	}
	byStatus := map[int][]string{}
	var statuses []int
	for _, row := range errorsx.Rows() { // catalogue order
		if !slices.Contains(op.codes, row.Code) {
			continue
		}
		if _, ok := byStatus[row.Status]; !ok {
			statuses = append(statuses, row.Status)
		}
		byStatus[row.Status] = append(byStatus[row.Status], string(row.Code))
	}
	for _, c := range op.codes {
		if _, ok := errorsx.Lookup(c); !ok {
			return nil, fmt.Errorf("openapi: %s %s: code %q is not in the catalogue", op.Method, op.Path, c)
		}
	}
	for _, status := range statuses {
		codes := byStatus[status]
		name, ok := b.byCodes[strings.Join(codes, ",")]
		if !ok {
			return nil, fmt.Errorf("openapi: %s %s: no response describes %s together", op.Method, op.Path, strings.Join(codes, " and "))
		}
		responses[strconv.Itoa(status)] = b.failure(b.responses[name].(map[string]any), op.headers)
	}
	if len(responses) == 0 {
		return nil, fmt.Errorf("openapi: %s %s: no response described", op.Method, op.Path)
	}
	obj["responses"] = responses

	if op.Summary != "" {
		obj["summary"] = op.Summary
	}
	if d := strings.TrimSpace(strings.Join(append([]string{op.Description}, op.notes...), " ")); d != "" {
		obj["description"] = d
	}
	if len(op.Tags) > 0 {
		obj["tags"] = op.Tags
	}
	return obj, nil
}

// success is the response object of a declared response.
func (b *builder) success(r Response, common []Header) map[string]any {
	desc := r.Description
	if desc == "" {
		desc = http.StatusText(r.Status)
	}
	obj := map[string]any{"description": desc}
	headers := map[string]any{}
	for _, h := range slices.Concat(common, r.Headers) {
		headers[h.Name] = b.header(h)
	}
	if len(headers) > 0 {
		obj["headers"] = headers
	}
	ct := r.ContentType
	if ct == "" && r.Schema != nil {
		ct = "application/json"
	}
	if ct != "" {
		media := map[string]any{}
		if r.Schema != nil {
			media["schema"] = r.Schema
		}
		obj["content"] = map[string]any{ct: media}
	}
	return obj
}

// failure is the response object of an error status: errorsx's, with the
// operation's headers added.
func (b *builder) failure(base map[string]any, common []Header) map[string]any {
	obj := make(map[string]any, len(base))
	for k, v := range base {
		obj[k] = v
	}
	headers := map[string]any{}
	if h, ok := base["headers"].(map[string]any); ok {
		for k, v := range h {
			headers[k] = v
		}
	}
	for _, h := range common {
		if _, ok := headers[h.Name]; !ok {
			headers[h.Name] = b.header(h)
		}
	}
	obj["headers"] = headers
	return obj
}

// header registers h in components/headers (the first description of a
// name wins) and returns a reference to it.
func (b *builder) header(h Header) map[string]any {
	if _, ok := b.headers[h.Name]; !ok {
		obj := map[string]any{"required": h.Required}
		if h.Description != "" {
			obj["description"] = h.Description
		}
		if h.Schema != nil {
			obj["schema"] = h.Schema
		} else {
			obj["schema"] = &Schema{Type: "string"}
		}
		b.headers[h.Name] = obj
	}
	return map[string]any{"$ref": "#/components/headers/" + h.Name}
}

// requestBody is the request body object of rb; a named schema goes to
// components/schemas.
func (b *builder) requestBody(rb RequestBody) (map[string]any, error) {
	ct := rb.ContentType
	if ct == "" {
		ct = "application/json"
	}
	var schema any = rb.Schema
	if rb.Schema == nil {
		schema = &Schema{}
	}
	if rb.Name != "" && rb.Schema != nil {
		name, err := b.schemaName(rb.Name, rb.Schema)
		if err != nil {
			return nil, err
		}
		schema = map[string]any{"$ref": "#/components/schemas/" + name}
	}
	obj := map[string]any{
		"required": rb.Required,
		"content":  map[string]any{ct: map[string]any{"schema": schema}},
	}
	if rb.Description != "" {
		obj["description"] = rb.Description
	}
	return obj, nil
}

// schemaName puts s in components/schemas under name, or under name2,
// name3, … when another schema has that name, and returns the name used.
func (b *builder) schemaName(name string, s *Schema) (string, error) {
	want, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	for i := 1; ; i++ {
		n := name
		if i > 1 {
			n += strconv.Itoa(i)
		}
		have, ok := b.schemas[n]
		if !ok {
			b.schemas[n] = s
			return n, nil
		}
		if hs, ok := have.(*Schema); ok {
			if got, _ := json.Marshal(hs); bytes.Equal(got, want) {
				return n, nil
			}
		}
	}
}

// parameter is the parameter object of p.
func parameter(p Parameter) map[string]any {
	obj := map[string]any{"name": p.Name, "in": p.In}
	if p.Required || p.In == "path" {
		obj["required"] = true
	}
	if p.Description != "" {
		obj["description"] = p.Description
	}
	if p.Schema != nil {
		obj["schema"] = p.Schema
	} else {
		obj["schema"] = &Schema{Type: "string"}
	}
	return obj
}

// pathParams returns the parameter names of a template, in order.
func pathParams(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if len(seg) > 2 && seg[0] == '{' && seg[len(seg)-1] == '}' {
			out = append(out, seg[1:len(seg)-1])
		}
	}
	return out
}

// operationID derives an operationId from the method and the path:
// "GET /v1/models/{id}" → "getV1ModelsId".
func operationID(op *Operation) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(op.Method))
	upper := true
	for _, r := range op.Path {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			upper = true
			continue
		}
		if upper {
			r = unicode.ToUpper(r)
			upper = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
