package errorsx

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// OpenAPIVersion is the OpenAPI version of the document [OpenAPI] returns.
const OpenAPIVersion = "3.1.0"

// OpenAPIConfig says what the document of [OpenAPI] describes: the
// renderer's configuration, and the headers that middlewares add to every
// response. The zero value describes NewRenderer(HandlerConfig{}).
type OpenAPIConfig struct {
	// HandlerConfig is the configuration the app gives [NewRenderer].
	HandlerConfig

	// SendRequestID documents the Request-Id header, for an app whose
	// guard.RequestID sends it (RequestIDConfig.SendRequestID).
	SendRequestID bool
}

// OpenAPI returns an OpenAPI 3.1 document, as indented JSON, whose
// components describe every error that [NewRenderer] with
// cfg.HandlerConfig renders. It is generated from the catalogue ([Rows]), so it cannot drift
// from what the server sends. It holds:
//
//   - components/schemas: Error (the envelope, any row), ErrorCode and
//     ErrorType (enums of the catalogue), and one schema per row named
//     after its code (NotFoundError, RateLimitExceededError, …) that pins
//     type and code; with cfg.ProblemJSON also Problem and one
//     …Problem schema per row for application/problem+json;
//   - components/headers: X-Request-Id (and Request-Id with
//     cfg.SendRequestID);
//   - components/responses: one response per row named after its code
//     (InvalidRequest, InvalidApiKey, …, ServiceUnavailable) with its
//     headers (X-Should-Retry pinned to the row's retryability,
//     Retry-After, WWW-Authenticate) and an example body, plus one response
//     per status that several rows share (Conflict, for 409), for an
//     operation's responses map, which has one entry per status.
//
// The document has no paths: an API author refers to its components, e.g.
// {"$ref": "errors.json#/components/responses/NotFound"}, or copies them
// into the API's own document. The output is deterministic; the repository
// keeps the document of the zero OpenAPIConfig in testdata/openapi.json.
func OpenAPI(cfg OpenAPIConfig) []byte {
	base := cfg.ProblemTypeBase
	if base == "" {
		base = "urn:apiguard:error:" // the renderer's default, see NewRenderer
	}
	realm := cfg.Realm
	if realm == "" {
		realm = "api"
	}
	all := Rows()

	var codes, types []any
	var statuses []any
	seenType := map[string]bool{}
	seenStatus := map[int]bool{}
	byStatus := map[int][]Row{}
	for _, r := range all {
		codes = append(codes, string(r.Code))
		if !seenType[r.Type] {
			seenType[r.Type] = true
			types = append(types, r.Type)
		}
		if !seenStatus[r.Status] {
			seenStatus[r.Status] = true
			statuses = append(statuses, r.Status)
		}
		byStatus[r.Status] = append(byStatus[r.Status], r)
	}

	schemas := jsonObject{
		{"Error", jsonObject{
			{"title", "Error envelope"},
			{"description", "The body of every error response: one object, \"error\", whose code is the machine-readable reason. Clients branch on code, never on message."},
			{"type", "object"},
			{"required", []any{"error"}},
			{"additionalProperties", false},
			{"properties", jsonObject{
				{"error", jsonObject{
					{"type", "object"},
					{"required", []any{"type", "code", "message"}},
					{"additionalProperties", false},
					{"properties", jsonObject{
						{"type", ref("schemas", "ErrorType")},
						{"code", ref("schemas", "ErrorCode")},
						{"message", jsonObject{
							{"type", "string"},
							{"minLength", 1},
							{"description", "For people: never carries internal detail. May change without notice."},
						}},
						{"param", jsonObject{
							{"type", "string"},
							{"minLength", 1},
							{"description", "The one request field at fault: its JSON name, dotted for nested fields (\"input.duration\"). Absent when no single field is at fault."},
						}},
					}},
				}},
			}},
		}},
		{"ErrorCode", jsonObject{
			{"type", "string"},
			{"description", "The machine-readable reason. A client should treat a code it does not know by the response's status."},
			{"enum", codes},
		}},
		{"ErrorType", jsonObject{
			{"type", "string"},
			{"description", "The class of the error."},
			{"enum", types},
		}},
	}
	for _, r := range all {
		schemas = append(schemas, jsonMember{schemaName(r), jsonObject{
			{"title", r.Title},
			{"description", rowSentence(r)},
			{"allOf", []any{ref("schemas", "Error")}},
			{"properties", jsonObject{
				{"error", jsonObject{
					{"properties", jsonObject{
						{"type", jsonObject{{"const", r.Type}}},
						{"code", jsonObject{{"const", string(r.Code)}}},
					}},
				}},
			}},
		}})
	}
	if cfg.ProblemJSON {
		schemas = append(schemas, jsonMember{"Problem", jsonObject{
			{"title", "Problem details (RFC 9457)"},
			{"description", "The same error as an application/problem+json document, sent only to clients whose Accept header explicitly prefers it. detail is the envelope's message; code and param are extension members."},
			{"type", "object"},
			{"required", []any{"type", "title", "status", "detail", "code"}},
			{"additionalProperties", false},
			{"properties", jsonObject{
				{"type", jsonObject{{"type", "string"}, {"format", "uri-reference"}}},
				{"title", jsonObject{{"type", "string"}, {"minLength", 1}}},
				{"status", jsonObject{{"type", "integer"}, {"enum", statuses}}},
				{"detail", jsonObject{{"type", "string"}, {"minLength", 1}}},
				{"code", ref("schemas", "ErrorCode")},
				{"param", jsonObject{{"type", "string"}, {"minLength", 1}}},
			}},
		}})
		for _, r := range all {
			schemas = append(schemas, jsonMember{pascal(string(r.Code)) + "Problem", jsonObject{
				{"title", r.Title},
				{"description", rowSentence(r)},
				{"allOf", []any{ref("schemas", "Problem")}},
				{"properties", jsonObject{
					{"type", jsonObject{{"const", base + string(r.Code)}}},
					{"title", jsonObject{{"const", r.Title}}},
					{"status", jsonObject{{"const", r.Status}}},
					{"code", jsonObject{{"const", string(r.Code)}}},
				}},
			}})
		}
	}

	headers := jsonObject{
		{HeaderRequestID, jsonObject{
			{"description", "The request id: the incoming X-Request-Id when it is a sane token, else a new UUID. Quote it to support."},
			{"required", true},
			{"schema", jsonObject{{"type", "string"}, {"minLength", 1}}},
		}},
	}
	if cfg.SendRequestID {
		headers = append(headers, jsonMember{HeaderRequestIDStripe, jsonObject{
			{"description", "The request id again, under the name stripe-go reads."},
			{"required", true},
			{"schema", jsonObject{{"type", "string"}, {"minLength", 1}}},
		}})
	}

	responses := jsonObject{}
	for _, r := range all {
		responses = append(responses, jsonMember{pascal(string(r.Code)), response(r, cfg, realm, base)})
	}
	for _, s := range statuses {
		status := s.(int)
		rs := byStatus[status]
		if len(rs) < 2 {
			continue
		}
		responses = append(responses, jsonMember{strings.ReplaceAll(http.StatusText(status), " ", ""), sharedResponse(status, rs, cfg)})
	}

	doc := jsonObject{
		{"openapi", OpenAPIVersion},
		{"info", jsonObject{
			{"title", "apiguard error responses"},
			{"version", "1.0.0"},
			{"description", "Every error response of an API built with apiguard: one JSON envelope, " +
				strconv.Itoa(len(all)) + " (status, code) rows, generated from the catalogue. Refer to components/responses from your operations."},
		}},
		{"components", jsonObject{
			{"schemas", schemas},
			{"headers", headers},
			{"responses", responses},
		}},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		// Only fixed Go values go in; an error here is a bug in this file.
		panic("errorsx: encoding the OpenAPI document: " + err.Error())
	}
	return buf.Bytes()
}

// response is the response object of one row.
func response(r Row, cfg OpenAPIConfig, realm, base string) jsonObject {
	h := requestIDHeaders(cfg)
	h = append(h, jsonMember{HeaderShouldRetry, jsonObject{
		{"description", "Whether the same request may be retried: " + strconv.FormatBool(r.Retryable) + " for this row."},
		{"required", true},
		{"schema", jsonObject{{"type", "string"}, {"const", strconv.FormatBool(r.Retryable)}}},
	}})
	switch {
	case r.Retryable:
		// 429 and 503 always say when to retry; the other retryable rows
		// do when the error carries a wait.
		h = append(h, jsonMember{HeaderRetryAfter, retryAfterHeader(alwaysWaits(&r))})
	case r.Status == http.StatusUnauthorized:
		h = append(h, jsonMember{HeaderWWWAuthenticate, jsonObject{
			{"description", "The Bearer challenge (RFC 6750), with error=\"invalid_token\" when a key was sent."},
			{"required", true},
			{"schema", jsonObject{{"type", "string"}}},
			{"example", "Bearer realm=" + quoteHeader(realm) + `, error="invalid_token"`},
		}})
	}
	e := &Error{row: &r}
	content := jsonObject{
		{"application/json", jsonObject{
			{"schema", ref("schemas", schemaName(r))},
			{"example", json.RawMessage(AppendEnvelope(nil, e))},
		}},
	}
	if cfg.ProblemJSON {
		content = append(content, jsonMember{ContentTypeProblem, jsonObject{
			{"schema", ref("schemas", pascal(string(r.Code))+"Problem")},
			{"example", json.RawMessage(appendProblem(nil, e, base+string(r.Code)))},
		}})
	}
	return jsonObject{
		{"description", strconv.Itoa(r.Status) + " " + string(r.Code) + ": " + rowSentence(r)},
		{"headers", h},
		{"content", content},
		{"x-apiguard-code", string(r.Code)},
		{"x-apiguard-retryable", r.Retryable},
	}
}

// sharedResponse is the response object of a status that several rows
// share: the body is one of their schemas.
func sharedResponse(status int, rs []Row, cfg OpenAPIConfig) jsonObject {
	var names []string
	var envelopes, problems []any
	anyWait := false
	for _, r := range rs {
		names = append(names, string(r.Code))
		envelopes = append(envelopes, ref("schemas", schemaName(r)))
		problems = append(problems, ref("schemas", pascal(string(r.Code))+"Problem"))
		anyWait = anyWait || r.Retryable
	}
	h := requestIDHeaders(cfg)
	h = append(h, jsonMember{HeaderShouldRetry, jsonObject{
		{"description", "Whether the same request may be retried; the code tells the rows apart."},
		{"required", true},
		{"schema", jsonObject{{"type", "string"}, {"enum", []any{"true", "false"}}}},
	}})
	if anyWait {
		h = append(h, jsonMember{HeaderRetryAfter, retryAfterHeader(false)})
	}
	content := jsonObject{{"application/json", jsonObject{{"schema", jsonObject{{"oneOf", envelopes}}}}}}
	if cfg.ProblemJSON {
		content = append(content, jsonMember{ContentTypeProblem, jsonObject{{"schema", jsonObject{{"oneOf", problems}}}}})
	}
	return jsonObject{
		{"description", strconv.Itoa(status) + ", one of " + strings.Join(names, ", ") + ": branch on code."},
		{"headers", h},
		{"content", content},
		{"x-apiguard-codes", stringsToAny(names)},
	}
}

func requestIDHeaders(cfg OpenAPIConfig) jsonObject {
	h := jsonObject{{HeaderRequestID, ref("headers", HeaderRequestID)}}
	if cfg.SendRequestID {
		h = append(h, jsonMember{HeaderRequestIDStripe, ref("headers", HeaderRequestIDStripe)})
	}
	return h
}

func retryAfterHeader(required bool) jsonObject {
	d := "Seconds to wait before retrying, rounded up, at least 1; sent when the wait is known."
	if required {
		d = "Seconds to wait before retrying, rounded up, at least 1."
	}
	return jsonObject{
		{"description", d},
		{"required", required},
		{"schema", jsonObject{{"type", "integer"}, {"minimum", 1}}},
	}
}

func rowSentence(r Row) string {
	s := r.Title + " (" + r.Type + "). " + r.Message
	if r.Retryable {
		return s + " Retryable."
	}
	return s + " Not retryable: change the request first."
}

func schemaName(r Row) string {
	n := pascal(string(r.Code))
	if strings.HasSuffix(n, "Error") {
		return n
	}
	return n + "Error"
}

// pascal turns a snake_case code into PascalCase: "invalid_api_key" →
// "InvalidApiKey".
func pascal(s string) string {
	var b strings.Builder
	for part := range strings.SplitSeq(s, "_") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]))
		b.WriteString(part[1:])
	}
	return b.String()
}

func ref(kind, name string) jsonObject {
	return jsonObject{{"$ref", "#/components/" + kind + "/" + name}}
}

func stringsToAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// jsonObject is a JSON object that keeps its members in order, so that the
// document reads top-down and its bytes are stable.
type jsonObject []jsonMember

type jsonMember struct {
	key   string
	value any
}

// MarshalJSON writes the members in order, without HTML escaping.
func (o jsonObject) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	buf.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := enc.Encode(m.key); err != nil {
			return nil, err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
		buf.WriteByte(':')
		if err := enc.Encode(m.value); err != nil {
			return nil, err
		}
		buf.Truncate(buf.Len() - 1)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
