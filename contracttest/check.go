package contracttest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/clipia/apiguard/errorsx"
)

// envelope is a well-formed error of an answer: the envelope's members, or
// the problem document's (detail as message).
type envelope struct {
	typ, message, param string
	code                errorsx.Code
}

// wantEnvelope is how a message names the one error shape.
const wantEnvelope = `want the JSON envelope {"error":{"type","code","message"[,"param"]}} with Content-Type ` +
	errorsx.ContentTypeJSON

// check reports every way a breaks the contract as the answer to p: its
// shape, its row, its headers, and whether the operation lists it. It sets
// a.env to the error it carried when that is well formed.
func (r *runner) check(p *probe, a *answer) {
	r.t.Helper()
	id := a.header.Get(errorsx.HeaderRequestID)
	if id == "" {
		r.errorf(p, *a, "no %s header; want one on every response (guard.RequestID)", errorsx.HeaderRequestID)
	}
	if sid := a.header.Values(errorsx.HeaderRequestIDStripe); len(sid) > 0 && (len(sid) != 1 || sid[0] != id) {
		r.errorf(p, *a, "%s %q; want the %s %q, once", errorsx.HeaderRequestIDStripe, sid, errorsx.HeaderRequestID, id)
	}
	switch {
	case a.status >= 300 && a.status < 400:
		r.errorf(p, *a, "a redirect to %q; want no redirect: a path is routed as sent, and one that matches no route is the 404 row", a.header.Get("Location"))
		return
	case a.status < 400:
		r.listed(p, *a)
		return
	}
	var rows []errorsx.Row
	for _, row := range errorsx.Rows() {
		if row.Status == a.status {
			rows = append(rows, row)
		}
	}
	if len(rows) == 0 {
		r.errorf(p, *a, "status %d is none of the eleven rows of the catalogue (errorsx.Rows); %s", a.status, wantEnvelope)
		r.listed(p, *a)
		return
	}
	ct := a.header.Get("Content-Type")
	problem := mediaTypeOf(ct) == mediaTypeOf(errorsx.ContentTypeProblem)
	switch {
	case problem && !p.problem:
		r.errorf(p, *a, "application/problem+json to a client that did not ask for it; %s", wantEnvelope)
	case !problem && ct != errorsx.ContentTypeJSON:
		r.errorf(p, *a, "Content-Type %q; %s", ct, wantEnvelope)
	case p.method != http.MethodHead:
		var env *envelope
		var bad []string
		if problem {
			env, bad = parseProblem(a.body, a.status)
		} else {
			env, bad = parseEnvelope(a.body)
		}
		for _, b := range bad {
			if problem {
				r.errorf(p, *a, "%s; want an RFC 9457 problem document {type, title, status, detail, code[, param]}, nothing else", b)
			} else {
				r.errorf(p, *a, "%s; %s, nothing else inside error", b, wantEnvelope)
			}
		}
		if env != nil {
			row, ok := errorsx.Lookup(env.code)
			switch {
			case !ok:
				r.errorf(p, *a, "code %q is not in the catalogue; want one of the eleven rows (errorsx.Rows)", env.code)
			case row.Status != a.status:
				r.errorf(p, *a, "code %q sent with status %d; want it with %d, its row's status", env.code, a.status, row.Status)
			case !problem && row.Type != env.typ:
				r.errorf(p, *a, "type %q; want %q, the type of code %q", env.typ, row.Type, env.code)
			default:
				a.env = env
				rows = []errorsx.Row{row}
			}
		}
	}

	// The headers. For a HEAD (no body) of a status with two rows (409),
	// either row's headers will do.
	retry := a.header.Get(errorsx.HeaderShouldRetry)
	if !slices.ContainsFunc(rows, func(row errorsx.Row) bool { return retry == strconv.FormatBool(row.Retryable) }) {
		want := strconv.FormatBool(rows[0].Retryable)
		if len(rows) > 1 {
			want = `"true" or "false"`
		}
		r.errorf(p, *a, "%s %q; want %s (the row's retryability)", errorsx.HeaderShouldRetry, retry, want)
	}
	waits := a.status == 429 || a.status == 503 || len(rows) == 1 && rows[0].Code == errorsx.CodeRequestInProgress
	if ra := a.header.Get(errorsx.HeaderRetryAfter); waits {
		if n, err := strconv.Atoi(ra); err != nil || n < 1 {
			r.errorf(p, *a, "%s %q; want whole seconds, at least 1, on every %d %s", errorsx.HeaderRetryAfter, ra, a.status, rows[0].Code)
		}
	}
	if a.status == 401 {
		if wa := a.header.Get(errorsx.HeaderWWWAuthenticate); len(wa) < 7 || !strings.EqualFold(wa[:7], "Bearer ") {
			r.errorf(p, *a, `%s %q; want a Bearer challenge (Bearer realm="api") on every 401`, errorsx.HeaderWWWAuthenticate, wa)
		}
	}
	r.listed(p, *a)
}

// listed reports a when p's operation does not list its status, lacks a
// header the document marks required on that response, or has a media
// type the response does not name.
func (r *runner) listed(p *probe, a answer) {
	r.t.Helper()
	if p.unmatched {
		return
	}
	res, ok := p.op.lists(r.d, a.status)
	if !ok {
		r.errorf(p, a, "status %d is not listed among the responses of %s in the document (it lists %s); want only documented answers",
			a.status, p.op.label, strings.Join(slices.Sorted(maps.Keys(p.op.o.Responses)), ", "))
		return
	}
	if res == nil {
		return // an external $ref: nothing more to check
	}
	for _, name := range slices.Sorted(maps.Keys(res.Headers)) {
		h := r.d.header(res.Headers[name])
		if h != nil && h.Required && !strings.EqualFold(name, "Content-Type") && a.header.Get(name) == "" {
			r.errorf(p, a, "no %s header; the document marks it required on the %d response of %s", name, a.status, p.op.label)
		}
	}
	if len(res.Content) == 0 || p.method == http.MethodHead || len(a.body) == 0 {
		return
	}
	mt := mediaTypeOf(a.header.Get("Content-Type"))
	for k := range res.Content {
		k = mediaTypeOf(k)
		if k == mt || k == "*/*" || strings.HasSuffix(k, "/*") && strings.HasPrefix(mt, strings.TrimSuffix(k, "*")) {
			return
		}
	}
	r.errorf(p, a, "Content-Type %q is none of the media types the document names for the %d response of %s (%s)",
		a.header.Get("Content-Type"), a.status, p.op.label, strings.Join(slices.Sorted(maps.Keys(res.Content)), ", "))
}

// lists returns the response o's document gives for status (its own code,
// its range such as "4XX", or default) and whether there is one; the
// response is nil when it is an external $ref.
func (o *op) lists(d *document, status int) (*response, bool) {
	s := strconv.Itoa(status)
	for _, k := range []string{s, s[:1] + "XX", s[:1] + "xx", "default"} {
		if res, ok := o.o.Responses[k]; ok {
			return d.response(res), true
		}
	}
	return nil, false
}

// mediaTypeOf is the media type of a Content-Type, lower case, without
// parameters.
func mediaTypeOf(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// members decodes a JSON object into its members, or says why it cannot.
func members(b []byte, what string) (map[string]json.RawMessage, string) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, what + " is not a JSON object"
	}
	return m, ""
}

// stringMember reads the string member name of m: required or not, never
// empty. It returns the value and what is wrong with it, if anything.
func stringMember(m map[string]json.RawMessage, where, name string, required bool) (string, string) {
	raw, ok := m[name]
	if !ok {
		if required {
			return "", fmt.Sprintf("%s has no %q", where, name)
		}
		return "", ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Sprintf("%s.%s is %s, not a string", where, name, cut(string(raw), 40))
	}
	if s == "" {
		return "", fmt.Sprintf("%s.%s is empty", where, name)
	}
	return s, ""
}

// unknown lists the members of m that allowed does not name.
func unknown(m map[string]json.RawMessage, where string, allowed ...string) []string {
	var bad []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(allowed, k) {
			bad = append(bad, fmt.Sprintf("%s has the member %q", where, k))
		}
	}
	return bad
}

// parseEnvelope reads an error envelope, or lists what is wrong with it.
func parseEnvelope(b []byte) (*envelope, []string) {
	top, why := members(b, "the body")
	if why != "" {
		return nil, []string{why}
	}
	bad := unknown(top, "the body", "error")
	raw, ok := top["error"]
	if !ok {
		return nil, append(bad, `the body has no "error"`)
	}
	in, why := members(raw, `"error"`)
	if why != "" {
		return nil, append(bad, why)
	}
	bad = append(bad, unknown(in, "error", "type", "code", "message", "param")...)
	var e envelope
	var code string
	for _, f := range []struct {
		name     string
		dst      *string
		required bool
	}{{"type", &e.typ, true}, {"code", &code, true}, {"message", &e.message, true}, {"param", &e.param, false}} {
		v, why := stringMember(in, "error", f.name, f.required)
		if why != "" {
			bad = append(bad, why)
		}
		*f.dst = v
	}
	e.code = errorsx.Code(code)
	if len(bad) > 0 {
		return nil, bad
	}
	return &e, nil
}

// parseProblem reads a problem document sent with status, or lists what is
// wrong with it.
func parseProblem(b []byte, status int) (*envelope, []string) {
	m, why := members(b, "the body")
	if why != "" {
		return nil, []string{why}
	}
	bad := unknown(m, "the problem", "type", "title", "status", "detail", "code", "param")
	var e envelope
	var code string
	for _, f := range []struct {
		name     string
		dst      *string
		required bool
	}{{"type", &e.typ, true}, {"title", new(string), true}, {"detail", &e.message, true}, {"code", &code, true}, {"param", &e.param, false}} {
		v, why := stringMember(m, "the problem", f.name, f.required)
		if why != "" {
			bad = append(bad, why)
		}
		*f.dst = v
	}
	var n int
	if err := json.Unmarshal(m["status"], &n); err != nil || n != status {
		bad = append(bad, fmt.Sprintf("the problem's status is %s; want %d, the response's", cut(string(m["status"]), 20), status))
	}
	e.code = errorsx.Code(code)
	if len(bad) > 0 {
		return nil, bad
	}
	return &e, nil
}
