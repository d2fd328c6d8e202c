package contracttest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clipia/apiguard/errorsx"
)

// Option configures [Run].
type Option func(*config)

type config struct {
	key      string
	opKeys   map[string]string
	bodies   map[string]string
	params   map[string]string
	basePath *string
}

// Key is a valid API key. Run sends it the way the operation's security
// scheme says (Authorization: Bearer for an http bearer scheme, the named
// header for an apiKey scheme; Bearer when the document names none) on the
// probes that need a caller, so that they reach the guards behind auth.
// Without a key, Run probes the operations that need one only without a key
// and with a bad one, and says so with t.Log.
func Key(key string) Option { return func(c *config) { c.key = key } }

// OperationKey is the valid API key for one operation, in place of [Key]
// (a key with that operation's scope). The operation is named "METHOD
// /path" as the document spells it ("POST /v1/generations") or by its
// operationId.
func OperationKey(operation, key string) Option {
	return func(c *config) { c.opKeys[operation] = key }
}

// Body is a valid JSON request body of one operation (named as for
// [OperationKey]), in place of the one Run derives from the operation's
// schema (its required properties, each the smallest value its schema
// allows: an example, const, enum or default first, minLength letters,
// the minimum). Give one when a valid body needs more than the schema
// says: an id that must exist, a model the app knows.
func Body(operation, body string) Option {
	return func(c *config) { c.bodies[operation] = body }
}

// PathParam is the value of the path parameter name in every operation's
// path, in place of its example in the document (or "contracttest").
func PathParam(name, value string) Option {
	return func(c *config) { c.params[name] = value }
}

// BasePath is prefixed to every path of the document, in place of the
// path of the document's first server URL ("https://api.example.com/v1"
// gives "/v1").
func BasePath(path string) Option {
	return func(c *config) { p := strings.TrimSuffix(path, "/"); c.basePath = &p }
}

// Limits of the probes.
const (
	hugeName     = 100_000 // characters of the huge field name
	maxErrorBody = 4 << 10 // an error answer to the huge field name stays below this
	maxRead      = 1 << 20 // Run reads at most this much of an answer
	timeout      = 30 * time.Second
)

// Run serves h with httptest and probes every operation of the OpenAPI 3.1
// document doc (JSON), reporting each answer that breaks the contract with
// t.Errorf (see the package documentation for the probes and the checks).
// It never calls t.Fatal: an unreadable document is one t.Errorf, and Run
// returns. It is meant for a test of the app:
//
//	func TestContract(t *testing.T) {
//		doc, _ := os.ReadFile("testdata/openapi.json")
//		contracttest.Run(t, newApp(), doc, contracttest.Key("sk_test_full"))
//	}
//
// The app is probed as it is: requests with a valid key spend its rate
// limits and create what its operations create. Give it limits that a few
// dozen requests per operation do not reach, or Run can only check the 429
// it gets (it logs each expectation it could not check).
func Run(t testing.TB, h http.Handler, doc []byte, opts ...Option) {
	t.Helper()
	cfg := config{opKeys: map[string]string{}, bodies: map[string]string{}, params: map[string]string{}}
	for _, o := range opts {
		o(&cfg)
	}
	d, err := parseDocument(doc)
	if err != nil {
		t.Errorf("contracttest: %v", err)
		return
	}
	base := d.basePath()
	if cfg.basePath != nil {
		base = *cfg.basePath
	}
	ops := d.operations()
	for _, names := range []map[string]string{cfg.opKeys, cfg.bodies} {
		for _, name := range slices.Sorted(maps.Keys(names)) {
			if !slices.ContainsFunc(ops, func(o *op) bool { return o.is(name) }) {
				t.Errorf("contracttest: an option names the operation %q, which the document does not have (name one as \"METHOD /path\" or by its operationId)", name)
			}
		}
	}

	srv := httptest.NewServer(h)
	defer srv.Close()
	r := &runner{
		t: t, d: d, cfg: cfg, base: base, url: srv.URL,
		client: &http.Client{
			Transport: srv.Client().Transport,
			// A redirect is an answer of its own: never follow one.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Timeout:       timeout,
		},
		run: newRunID(),
	}
	for _, o := range ops {
		r.operation(o)
	}
	for _, p := range slices.Sorted(maps.Keys(d.Paths)) {
		r.wrongMethods(p, ops)
	}
}

// op is one operation of the document, with what Run needs resolved.
type op struct {
	method   string
	template string // the document's path
	id       string // operationId
	label    string // "POST /v1/generations"
	o        *operation
	params   []*parameter // path-level and operation-level, resolved
	secured  bool
	scheme   *securityScheme // how to send a key; nil: Authorization: Bearer
	body     *schema         // the JSON body's schema, nil when unknown
	jsonBody bool            // the operation takes an application/json body
	idem     bool            // the operation takes an Idempotency-Key header
	idemReq  bool            // … and requires it
}

func (o *op) is(name string) bool { return name == o.label || (o.id != "" && name == o.id) }

// operations lists the operations of d, by path and then method.
func (d *document) operations() []*op {
	var out []*op
	for _, p := range slices.Sorted(maps.Keys(d.Paths)) {
		item := d.Paths[p]
		if item == nil {
			continue
		}
		for _, m := range item.operations() {
			o := &op{method: m.method, template: p, id: m.op.OperationID, label: m.method + " " + p, o: m.op}
			byKey := map[string]int{}
			for _, raw := range slices.Concat(item.Parameters, m.op.Parameters) {
				pr := d.parameter(raw)
				if pr == nil {
					continue
				}
				k := pr.In + " " + strings.ToLower(pr.Name)
				if i, ok := byKey[k]; ok {
					o.params[i] = pr // the operation's wins
					continue
				}
				byKey[k] = len(o.params)
				o.params = append(o.params, pr)
			}
			for _, pr := range o.params {
				if pr.In == "header" && strings.EqualFold(pr.Name, "Idempotency-Key") {
					o.idem, o.idemReq = true, pr.Required
				}
			}
			reqs := d.Security
			if m.op.Security != nil {
				reqs = *m.op.Security
			}
			o.secured = len(reqs) > 0 && !slices.ContainsFunc(reqs, func(r map[string][]string) bool { return len(r) == 0 })
			if o.secured {
				for _, name := range slices.Sorted(maps.Keys(reqs[0])) {
					if s := d.securityScheme(name); s != nil {
						o.scheme = s
						break
					}
				}
			}
			if rb := d.requestBody(m.op.RequestBody); rb != nil {
				for ct, mt := range rb.Content {
					if mediaTypeOf(ct) == "application/json" {
						o.jsonBody = true
						if mt != nil {
							o.body = mt.Schema
						}
					}
				}
			}
			out = append(out, o)
		}
	}
	return out
}

// runner sends the probes of one Run.
type runner struct {
	t      testing.TB
	d      *document
	cfg    config
	base   string
	url    string
	client *http.Client
	run    string // unique per Run, in the idempotency keys
	n      int    // idempotency keys made
}

func newRunID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// idemKey returns a new Idempotency-Key.
func (r *runner) idemKey() string {
	r.n++
	return fmt.Sprintf("contracttest-%s-%d", r.run, r.n)
}

// key returns the valid key for o, or "".
func (r *runner) key(o *op) string {
	if k, ok := r.cfg.opKeys[o.label]; ok {
		return k
	}
	if k, ok := r.cfg.opKeys[o.id]; ok && o.id != "" {
		return k
	}
	return r.cfg.key
}

// path returns o's path with its parameters filled in, under the base path.
func (r *runner) path(o *op) string {
	p := o.template
	for _, pr := range o.params {
		if pr.In != "path" {
			continue
		}
		v, ok := r.cfg.params[pr.Name]
		if !ok {
			v = "contracttest"
			if ex, ok := decodeRaw(pr.Example); ok {
				v = fmt.Sprint(ex)
			} else if s := r.d.schema(pr.Schema); s != nil && (s.Type.main() != "string" ||
				len(s.Enum) > 0 || len(s.Const) > 0 || len(s.Example) > 0 || len(s.Examples) > 0) {
				if m, ok := r.d.minimal(s, 0); ok && m != nil {
					v = fmt.Sprint(m)
				}
			}
		}
		p = strings.ReplaceAll(p, "{"+pr.Name+"}", v)
	}
	return r.base + p
}

// withKey sets key on h as o's security scheme says.
func withKey(h http.Header, o *op, key string) {
	if s := o.scheme; s != nil && s.Type == "apiKey" && s.In == "header" && s.Name != "" {
		h.Set(s.Name, key)
		return
	}
	h.Set("Authorization", "Bearer "+key)
}

// validBody returns o's valid body as sent, and as an object when it is one.
func (r *runner) validBody(o *op) ([]byte, map[string]any) {
	raw, given := r.cfg.bodies[o.label]
	if !given && o.id != "" {
		raw, given = r.cfg.bodies[o.id]
	}
	if given {
		var m map[string]any
		if json.Unmarshal([]byte(raw), &m) != nil {
			m = nil
		}
		return []byte(raw), m
	}
	v, ok := r.d.minimal(o.body, 0)
	if !ok {
		v = map[string]any{}
	}
	b, _ := json.Marshal(v)
	m, _ := v.(map[string]any)
	return b, m
}

// operation sends the probes of o.
func (r *runner) operation(o *op) {
	r.t.Helper()
	t := r.t
	path := r.path(o)
	var body []byte
	var obj map[string]any
	if o.jsonBody {
		body, obj = r.validBody(o)
	}
	req := func(name string) *probe {
		p := &probe{name: name, op: o, method: o.method, path: path, header: http.Header{}}
		if o.jsonBody {
			p.body = body
			p.header.Set("Content-Type", "application/json")
		}
		return p
	}

	// Auth: no key, a bad key, no key asking for problem+json.
	if o.secured {
		p := req("no key")
		r.expect(p, r.send(p), 401, errorsx.CodeInvalidAPIKey, "", "the operation has a security requirement")
		p = req("a bad key")
		withKey(p.header, o, "contracttest_invalid_key")
		a := r.send(p)
		r.expect(p, a, 401, errorsx.CodeInvalidAPIKey, "", "the key is not valid")
		if a.status == 401 && !strings.Contains(a.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			r.errorf(p, a, `WWW-Authenticate %q; want error="invalid_token" when a key was sent (RFC 6750)`, a.header.Get("WWW-Authenticate"))
		}
		p = req("no key, Accept: application/problem+json")
		p.header.Set("Accept", errorsx.ContentTypeProblem)
		p.problem = true
		r.expect(p, r.send(p), 401, errorsx.CodeInvalidAPIKey, "", "the operation has a security requirement")
	}
	key := r.key(o)
	if o.secured && key == "" {
		t.Logf("contracttest: %s: no valid key given (contracttest.Key): probed without a key and with a bad one only", o.label)
		return
	}
	req = func(name string) *probe {
		p := &probe{name: name, op: o, method: o.method, path: path, header: http.Header{}}
		if o.secured {
			withKey(p.header, o, key)
		}
		if o.jsonBody {
			p.body = body
			p.header.Set("Content-Type", "application/json")
		}
		if o.idemReq {
			p.header.Set("Idempotency-Key", r.idemKey())
		}
		return p
	}

	// The valid request; where the operation takes an Idempotency-Key, with one.
	valid := req("a valid request")
	idemKey := ""
	if o.idem {
		idemKey = r.idemKey()
		valid.header.Set("Idempotency-Key", idemKey)
	}
	first := r.send(valid)
	if o.secured && (first.status == 401 || first.status == 403) {
		r.errorf(valid, first, "the valid key was refused; give a key this operation accepts (contracttest.Key, contracttest.OperationKey): the probes behind auth are skipped")
		r.oddPaths(o, req, first)
		return
	}
	if o.method == http.MethodGet {
		p := req("HEAD for GET")
		p.method = http.MethodHead
		a := r.send(p)
		if a.status != first.status && !r.transient(p, a) {
			r.errorf(p, a, "status %d; want %d, the status of the same GET (HEAD answers as GET does, without a body)", a.status, first.status)
		}
	}
	if !o.secured && o.jsonBody {
		p := req("malformed JSON, Accept: application/problem+json")
		p.body = body[:max(len(body)-1, 0)]
		p.header.Set("Accept", errorsx.ContentTypeProblem)
		p.problem = true
		r.expect(p, r.send(p), 400, errorsx.CodeInvalidRequest, "", "the body is not JSON")
	}
	if o.jsonBody {
		r.bodies(o, req, body, obj)
	}
	if o.idem {
		r.idempotency(o, req, obj, idemKey, first)
	}
	r.oddPaths(o, req, first)
}

// bodies sends the body probes of o.
func (r *runner) bodies(o *op, req func(string) *probe, body []byte, obj map[string]any) {
	r.t.Helper()
	p := req("malformed JSON")
	p.body = body[:max(len(body)-1, 0)]
	r.expect(p, r.send(p), 400, errorsx.CodeInvalidRequest, "", "the body is not JSON")

	if obj == nil {
		r.t.Logf("contracttest: %s: the valid body is not a JSON object: no field probes", o.label)
		return
	}
	s := r.d.flatten(o.body)
	send := func(name string, v map[string]any) (*probe, answer) {
		r.t.Helper()
		p := req(name)
		p.body, _ = json.Marshal(v)
		return p, r.send(p)
	}
	if s != nil {
		for _, name := range s.Required {
			if _, ok := obj[name]; !ok {
				continue
			}
			v := maps.Clone(obj)
			delete(v, name)
			p, a := send(fmt.Sprintf("required field %q missing", name), v)
			r.expect(p, a, 400, errorsx.CodeInvalidRequest, name, "a required field is missing")
			break
		}
	}

	const extra = "contracttest_extra"
	v := maps.Clone(obj)
	v[extra] = true
	p, a := send(fmt.Sprintf("unknown field %q", extra), v)
	if s.closed() {
		r.expect(p, a, 400, errorsx.CodeInvalidRequest, extra, "the body schema has additionalProperties: false")
	}

	for _, name := range slices.Sorted(maps.Keys(obj)) {
		var bad any
		if s != nil {
			if fs := r.d.flatten(s.Properties[name]); fs != nil {
				bad = illTyped(fs)
			}
		}
		if bad == nil {
			continue
		}
		v := maps.Clone(obj)
		v[name] = bad
		p, a := send(fmt.Sprintf("field %q of the wrong type", name), v)
		r.expect(p, a, 400, errorsx.CodeInvalidRequest, name, "the field's value has the wrong JSON type")
		break
	}

	huge := strings.Repeat("f", hugeName)
	v = maps.Clone(obj)
	v[huge] = 1
	p, a = send(fmt.Sprintf("a field name of %d characters", hugeName), v)
	if a.status >= 400 && len(a.body) > maxErrorBody {
		r.errorf(p, a, "an error of %d bytes; want under %d: client input echoed in a message or param is cut to a bounded length", len(a.body), maxErrorBody)
	} else if a.status < 400 && bytes.Contains(a.body, []byte(huge[:1000])) {
		r.errorf(p, a, "the answer echoes the field name; want it cut to a bounded length")
	}
}

// idempotency sends the Idempotency-Key probes of o: the valid request
// was sent with key; first is its answer.
func (r *runner) idempotency(o *op, req func(string) *probe, obj map[string]any, key string, first answer) {
	r.t.Helper()
	stored := first.status >= 200 && first.status < 300
	p := req("the same Idempotency-Key and body again")
	p.header.Set("Idempotency-Key", key)
	a := r.send(p)
	if stored && !r.transient(p, a) {
		if a.status != first.status {
			r.errorf(p, a, "status %d; want the first answer's %d replayed", a.status, first.status)
		} else if a.header.Get("Idempotent-Replayed") != "true" {
			r.errorf(p, a, "Idempotent-Replayed %q; want \"true\" on a replayed answer", a.header.Get("Idempotent-Replayed"))
		}
	}

	if other := r.d.otherBody(obj, o.body); other == nil {
		r.t.Logf("contracttest: %s: found no field to change in the valid body: the Idempotency-Key reuse probe is skipped", o.label)
	} else {
		p = req("the same Idempotency-Key with another body")
		p.header.Set("Idempotency-Key", key)
		p.body, _ = json.Marshal(other)
		a = r.send(p)
		if stored {
			r.expect(p, a, 409, errorsx.CodeIdempotencyKeyReuse, "", "the key was used with other parameters")
		}
	}

	p = req("an Idempotency-Key of 300 characters")
	p.header.Set("Idempotency-Key", strings.Repeat("k", 300))
	r.expect(p, r.send(p), 400, errorsx.CodeInvalidRequest, "", "an Idempotency-Key has 1 to 255 characters")
}

// oddPaths sends o's request on odd spellings of its path: those that
// match no route must answer 404, never a redirect; a percent-encoded
// letter routes as the letter.
func (r *runner) oddPaths(o *op, req func(string) *probe, first answer) {
	r.t.Helper()
	path := r.path(o)
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	last := len(segs) - 1
	odd := []struct{ name, path string }{
		{"an empty segment (//)", "/" + path},
		{"a dot segment (/./)", "/" + strings.Join(slices.Insert(slices.Clone(segs), last, "."), "/")},
		{"a dot-dot segment (/../)", "/" + segs[0] + "/.." + path},
	}
	if !strings.HasSuffix(path, "/") {
		odd = append(odd, struct{ name, path string }{"a trailing slash", path + "/"})
	}
	for _, x := range odd {
		p := req(x.name)
		p.path, p.unmatched = x.path, true
		r.expect(p, r.send(p), 404, errorsx.CodeNotFound, "", "the path matches no route as sent (no door cleans or redirects a path)")
	}

	enc, ok := r.encodeLetter(o)
	if !ok {
		return
	}
	p := req("a percent-encoded letter in the path")
	p.path = enc
	a := r.send(p)
	switch {
	case r.transient(p, a):
	case a.status == 404 && first.status != 404:
		r.errorf(p, a, "404; want the operation's answer (%d for the plain path): %%XX of an unreserved character is that character", first.status)
	case o.method == http.MethodGet && a.status != first.status:
		r.errorf(p, a, "status %d; want %d, as for the plain path %s", a.status, first.status, r.path(o))
	}
}

// encodeLetter returns o's path with the first letter of its first static
// segment percent-encoded, or false when it has none.
func (r *runner) encodeLetter(o *op) (string, bool) {
	tsegs := strings.Split(o.template, "/")
	psegs := strings.Split(r.path(o)[len(r.base):], "/")
	if len(tsegs) != len(psegs) {
		return "", false
	}
	for i, s := range tsegs {
		if strings.Contains(s, "{") {
			continue
		}
		for j := 0; j < len(s); j++ {
			c := s[j]
			if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
				psegs[i] = s[:j] + fmt.Sprintf("%%%02X", c) + s[j+1:]
				return r.base + strings.Join(psegs, "/"), true
			}
		}
	}
	return "", false
}

// httpMethods are the methods Run sends to every path; those the path
// does not serve must answer 404.
var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// wrongMethods sends the methods that path (of the document) does not
// serve, without a key: each must be the 404 row (an unmatched request
// needs no key).
func (r *runner) wrongMethods(path string, ops []*op) {
	r.t.Helper()
	var served []string
	var one *op
	for _, o := range ops {
		if o.template == path {
			served = append(served, o.method)
			if one == nil {
				one = o
			}
		}
	}
	if one == nil {
		return
	}
	if slices.Contains(served, "GET") {
		served = append(served, "HEAD")
	}
	for _, m := range httpMethods {
		if slices.Contains(served, m) {
			continue
		}
		p := &probe{name: "a method the path does not serve, no key", op: one, unmatched: true, method: m, path: r.path(one), header: http.Header{}}
		r.expect(p, r.send(p), 404, errorsx.CodeNotFound, "", "the document lists no "+m+" "+path)
	}
}

// probe is one request of Run.
type probe struct {
	name string
	op   *op // the operation probed
	// unmatched: the request must match no route (an odd spelling of op's
	// path, a method its path does not serve).
	unmatched bool
	method    string
	path      string
	header    http.Header
	body      []byte
	problem   bool // the request asks for application/problem+json
}

// answer is a response, read.
type answer struct {
	status int
	header http.Header
	body   []byte
	env    *envelope // the error it carried, when it was a well-formed one
	err    error     // the request failed
}

// send sends p, checks its answer (see check) and returns it.
func (r *runner) send(p *probe) answer {
	r.t.Helper()
	req, err := http.NewRequest(p.method, r.url+p.path, bytes.NewReader(p.body))
	if err != nil {
		r.t.Errorf("contracttest: %s: %s: cannot build %s %s: %v", p.where(), p.name, p.method, p.path, err)
		return answer{err: err}
	}
	if p.body == nil {
		req.Body, req.ContentLength = nil, 0
	}
	req.Header = p.header.Clone()
	res, err := r.client.Do(req)
	if err != nil {
		r.t.Errorf("contracttest: %s: %s: %s %s: %v", p.where(), p.name, p.method, p.path, err)
		return answer{err: err}
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, maxRead))
	_ = res.Body.Close()
	a := answer{status: res.StatusCode, header: res.Header, body: b}
	if err != nil {
		r.errorf(p, a, "reading the body: %v", err)
	}
	r.check(p, &a)
	return a
}

// where names the operation of p; for a method its path does not serve,
// the path.
func (p *probe) where() string {
	if p.unmatched && p.method != p.op.method {
		return "path " + p.op.template
	}
	return p.op.label
}

// transient reports whether a is a 429 or a 503 that the operation lists:
// an answer that can replace any other, so a probe's expectation cannot be
// checked. It logs that.
func (r *runner) transient(p *probe, a answer) bool {
	r.t.Helper()
	if (a.status == 429 || a.status == 503) && (p.unmatched || p.op.listsStatus(r.d, a.status)) {
		r.t.Logf("contracttest: %s: %s: got %d, so what the probe checks was not checked (give the app higher limits)", p.where(), p.name, a.status)
		return true
	}
	return false
}

// expect reports a when it is not the row (status, code), with param
// param when not "", that the probe must get; why says why.
func (r *runner) expect(p *probe, a answer, status int, code errorsx.Code, param, why string) {
	r.t.Helper()
	if a.err != nil {
		return
	}
	if a.status != status {
		if (a.status < 300 || a.status >= 400) && !r.transient(p, a) { // check reported a redirect
			r.errorf(p, a, "status %d; want %d %s: %s", a.status, status, code, why)
		}
		return
	}
	if a.env == nil || p.method == http.MethodHead {
		return // check reported a malformed error already
	}
	if a.env.code != code {
		r.errorf(p, a, "code %q; want %q: %s", a.env.code, code, why)
	}
	if param != "" && a.env.param != param {
		r.errorf(p, a, "param %q; want %q, the field at fault", a.env.param, param)
	}
}

// errorf reports a defect of the answer a to p.
func (r *runner) errorf(p *probe, a answer, format string, args ...any) {
	r.t.Helper()
	r.t.Errorf("contracttest: %s: %s (%s): got %s: %s", p.where(), p.name, p.request(), a.summary(), fmt.Sprintf(format, args...))
}

// request describes p for a message: method, path, the headers that
// matter, the body cut short.
func (p *probe) request() string {
	var b strings.Builder
	b.WriteString(p.method + " " + p.path)
	for _, k := range slices.Sorted(maps.Keys(p.header)) {
		if k == "Content-Type" {
			continue
		}
		v := p.header.Get(k)
		if k == "Authorization" {
			v = "Bearer …"
		}
		fmt.Fprintf(&b, ", %s: %s", k, cut(v, 40))
	}
	if p.body != nil {
		fmt.Fprintf(&b, ", body %s", cut(string(p.body), 120))
	}
	return b.String()
}

// summary describes a for a message.
func (a answer) summary() string {
	s := fmt.Sprintf("%d", a.status)
	if ct := a.header.Get("Content-Type"); ct != "" {
		s += " " + ct
	}
	if len(a.body) > 0 {
		s += " " + cut(string(a.body), 200)
	}
	return s
}

// cut shortens s to about n bytes, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q…(%d bytes)", s[:n], len(s))
}

// listsStatus reports whether o's document lists status.
func (o *op) listsStatus(d *document, status int) bool {
	_, ok := o.lists(d, status)
	return ok
}
