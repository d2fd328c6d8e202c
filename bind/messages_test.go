package bind_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/clipia/apiguard/bind"
)

// msgRequest has a field of each kind the binder reports on by name.
type msgRequest struct {
	Model    string      `json:"model" validate:"required"`
	Duration int         `json:"duration" validate:"required,min=1"`
	Small    int8        `json:"small"`
	Count    uint8       `json:"count"`
	Ratio    float32     `json:"ratio"`
	Confirm  bool        `json:"confirm"`
	Tags     []string    `json:"tags"`
	Addr     netip.Addr  `json:"addr"`
	Options  *msgOptions `json:"options"`
	Limit    uint8       `json:"-" query:"limit"`
	Page     int         `json:"-" query:"page"`
	Scale    float64     `json:"-" query:"scale"`
	Verbose  bool        `json:"-" query:"verbose"`
}

type msgOptions struct {
	FPS int `json:"fps"`
}

// msgFlags has a required plain bool and a required number bound from the
// query string.
type msgFlags struct {
	Accept bool `json:"accept" validate:"required"`
	Seed   int  `json:"-" query:"seed" validate:"required"`
}

type msgPath struct {
	Project int `param:"project" validate:"required"`
}

// newMessageServer is a ServeMux with the errorsx renderer and one route
// per configuration the messages depend on.
func newMessageServer(t *testing.T) *http.ServeMux {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("POST /m", route(t, bind.Config{}, noContent[msgRequest]))
	mux.Handle("POST /m/strict", route(t, bind.Config{Strict: true}, noContent[msgRequest]))
	mux.Handle("POST /m/small", route(t, bind.Config{MaxBodyBytes: 64}, noContent[msgRequest]))
	mux.Handle("POST /m/flags", route(t, bind.Config{}, noContent[msgFlags]))
	mux.Handle("GET /m/projects/{project}", route(t, bind.Config{}, noContent[msgPath]))
	return mux
}

// messageCase is one malformed request and the exact message (and param)
// the client must see.
type messageCase struct {
	name        string
	method      string // default POST
	target      string
	contentType string // default application/json; "-" sends none
	body        string
	chunked     bool // unknown length
	wantStatus  int  // default 400
	wantParam   string
	wantMessage string
}

const okPrefix = `{"model":"m","duration":5`

// messageCases enumerates every message the binder (and errorsx.From's
// mapping of the client's input) can give a malformed request.
var messageCases = []messageCase{
	// Syntax: what is wrong and at which byte, never the decoder's words.
	{name: "bare word", target: "/m", body: `no`,
		wantMessage: "body is not valid JSON: unexpected character 'o' at byte 2"},
	{name: "bare word strict", target: "/m/strict", body: `no`,
		wantMessage: "body is not valid JSON: unexpected character 'o' at byte 2"},
	{name: "unquoted value", target: "/m", body: `{"model": clipia}`,
		wantMessage: "body is not valid JSON: unexpected character 'c' at byte 11"},
	{name: "broken literal", target: "/m", body: `{"confirm":tru}`,
		wantMessage: "body is not valid JSON: unexpected character '}' at byte 15"},
	{name: "missing colon", target: "/m", body: `{"model" "m"}`,
		wantMessage: "body is not valid JSON: unexpected character '\"' at byte 10"},
	{name: "trailing comma", target: "/m", body: `{"model":"m",}`,
		wantMessage: "body is not valid JSON: unexpected character '}' at byte 14"},
	{name: "single quotes", target: "/m", body: `{'model':1}`,
		wantMessage: `body is not valid JSON: unexpected character '\'' at byte 2`},
	{name: "bad escape", target: "/m", body: `{"model":"a\qb"}`,
		wantMessage: "body is not valid JSON: unexpected character 'q' at byte 13"},
	{name: "bad unicode escape", target: "/m", body: `{"model":"\u12x4"}`,
		wantMessage: "body is not valid JSON: unexpected character 'x' at byte 15"},
	{name: "raw newline in string", target: "/m", body: "{\"model\":\"a\nb\"}",
		wantMessage: `body is not valid JSON: unexpected character '\n' at byte 12`},
	{name: "NUL byte", target: "/m", body: "{\"model\":\x00}",
		wantMessage: `body is not valid JSON: unexpected character '\x00' at byte 10`},
	{name: "bad number", target: "/m", body: `{"duration":-x}`,
		wantMessage: "body is not valid JSON: unexpected character 'x' at byte 14"},
	{name: "leading zero", target: "/m", body: `{"duration":05}`,
		wantMessage: "body is not valid JSON: unexpected character '5' at byte 14"},
	{name: "non-ASCII character", target: "/m", body: `{"model":é}`,
		wantMessage: "body is not valid JSON: unexpected character 'é' at byte 10"},
	{name: "non-ASCII character strict", target: "/m/strict", body: `{"model":é}`,
		wantMessage: "body is not valid JSON: unexpected character 'é' at byte 10"},
	{name: "byte that is not UTF-8", target: "/m", body: "{\"model\":\xff}",
		wantMessage: `body is not valid JSON: unexpected character '\xff' at byte 10`},
	{name: "truncated", target: "/m", body: `{"model":"m"`,
		wantMessage: "body is not valid JSON: unexpected end of input at byte 12"},
	{name: "truncated strict", target: "/m/strict", body: `{"model":"m"`,
		wantMessage: "body is not valid JSON: unexpected end of input at byte 12"},
	{name: "truncated in string", target: "/m", body: `{"model":"clipia-f`,
		wantMessage: "body is not valid JSON: unexpected end of input at byte 18"},
	{name: "trailing data", target: "/m", body: `{"model":"m"} x`,
		wantMessage: "body is not valid JSON: unexpected data after the JSON value at byte 15"},
	{name: "trailing data strict", target: "/m/strict", body: `{"model":"m"} {}`,
		wantMessage: "body is not valid JSON: unexpected data after the JSON value at byte 15"},
	{name: "nested too deeply", target: "/m", body: strings.Repeat("[", 10001),
		wantMessage: "body is nested too deeply at byte 10001"},
	{name: "nested too deeply strict", target: "/m/strict", body: strings.Repeat("[", 10001),
		wantMessage: "body is nested too deeply at byte 10001"},

	// Types: the field and what it must be; a number out of range says so.
	{name: "string for integer", target: "/m", body: `{"duration":"5"}`,
		wantParam: "duration", wantMessage: "duration must be an integer"},
	{name: "fraction for integer", target: "/m", body: `{"duration":1.5}`,
		wantParam: "duration", wantMessage: "duration must be an integer"},
	{name: "int8 over range", target: "/m", body: `{"small":300}`,
		wantParam: "small", wantMessage: "small must be at most 127"},
	{name: "int8 under range", target: "/m", body: `{"small":-300}`,
		wantParam: "small", wantMessage: "small must be at least -128"},
	{name: "int over range", target: "/m", body: `{"duration":99999999999999999999}`,
		wantParam: "duration", wantMessage: "duration must be at most 9223372036854775807"},
	{name: "negative for unsigned", target: "/m", body: `{"count":-1}`,
		wantParam: "count", wantMessage: "count must not be negative"},
	{name: "uint8 over range", target: "/m", body: `{"count":256}`,
		wantParam: "count", wantMessage: "count must be at most 255"},
	{name: "float32 over range", target: "/m", body: `{"ratio":1e39}`,
		wantParam: "ratio", wantMessage: "ratio is out of range"},
	{name: "string for number", target: "/m", body: `{"ratio":"wide"}`,
		wantParam: "ratio", wantMessage: "ratio must be a number"},
	{name: "number for string", target: "/m", body: `{"model":7}`,
		wantParam: "model", wantMessage: "model must be a string"},
	{name: "string for boolean", target: "/m", body: `{"confirm":"yes"}`,
		wantParam: "confirm", wantMessage: "confirm must be a boolean"},
	{name: "string for list", target: "/m", body: `{"tags":"a"}`,
		wantParam: "tags", wantMessage: "tags must be an array"},
	{name: "list item", target: "/m", body: `{"tags":["a",1]}`,
		wantParam: "tags[1]", wantMessage: "tags[1] must be a string"},
	{name: "list for object", target: "/m", body: `{"options":[]}`,
		wantParam: "options", wantMessage: "options must be an object"},
	{name: "nested field", target: "/m", body: `{"options":{"fps":"x"}}`,
		wantParam: "options.fps", wantMessage: "options.fps must be an integer"},
	{name: "number for a text type", target: "/m", body: `{"addr":5}`,
		wantParam: "addr", wantMessage: "addr must be a string"},
	{name: "text type rejects its string", target: "/m", body: `{"addr":"nope"}`,
		wantMessage: "body contains a value that is not valid"},
	{name: "array body", target: "/m", body: `[1]`,
		wantMessage: "body must be an object"},
	{name: "string body", target: "/m", body: `"m"`,
		wantMessage: "body must be an object"},
	{name: "number then garbage strict", target: "/m/strict", body: `5x`,
		wantMessage: "body must be an object"},
	{name: "unknown field strict", target: "/m/strict", body: `{"model":"m","colour":"red"}`,
		wantParam: "colour", wantMessage: "colour is not a known field"},

	// Size, presence and content type.
	{name: "declared over the limit", target: "/m/small", body: okPrefix + `,"tags":["` + strings.Repeat("a", 64) + `"]}`,
		wantMessage: "request body is larger than 64 bytes"},
	{name: "declared over the limit, wrong type", target: "/m/small", contentType: "text/plain", body: strings.Repeat("a", 65),
		wantMessage: "request body is larger than 64 bytes"},
	{name: "chunked over the limit", target: "/m/small", chunked: true, body: okPrefix + `,"tags":["` + strings.Repeat("a", 64) + `"]}`,
		wantMessage: "request body is larger than 64 bytes"},
	{name: "empty body", target: "/m", body: ``,
		wantMessage: "request body is required"},
	{name: "blank body", target: "/m", body: " \r\n\t",
		wantMessage: "request body is required"},
	{name: "text/plain", target: "/m", contentType: "text/plain", body: okPrefix + `}`,
		wantMessage: "Content-Type must be application/json"},
	{name: "no content type", target: "/m", contentType: "-", body: okPrefix + `}`,
		wantMessage: "Content-Type must be application/json"},
	{name: "latin-1", target: "/m", contentType: "application/json; charset=latin1", body: okPrefix + `}`,
		wantMessage: "Content-Type charset must be utf-8"},

	// Validation; `required` on a plain number or bool that was sent.
	{name: "required string absent", target: "/m", body: `{"duration":5}`,
		wantParam: "model", wantMessage: "model is required"},
	{name: "required int absent", target: "/m", body: `{"model":"m"}`,
		wantParam: "duration", wantMessage: "duration is required"},
	{name: "required int null", target: "/m", body: `{"model":"m","duration":null}`,
		wantParam: "duration", wantMessage: "duration is required"},
	{name: "required int sent as 0", target: "/m", body: `{"model":"m","duration":0}`,
		wantParam: "duration", wantMessage: "duration must not be 0"},
	{name: "required int sent as 0, other case", target: "/m", body: `{"model":"m","DURATION":0}`,
		wantParam: "duration", wantMessage: "duration must not be 0"},
	{name: "required int sent as 0.0 strict", target: "/m/strict", body: `{"model":"m","duration":-0}`,
		wantParam: "duration", wantMessage: "duration must not be 0"},
	{name: "required int negative", target: "/m", body: `{"model":"m","duration":-1}`,
		wantParam: "duration", wantMessage: "duration must be at least 1"},
	{name: "required bool absent", target: "/m/flags?seed=1", body: `{}`,
		wantParam: "accept", wantMessage: "accept is required"},
	{name: "required bool sent false", target: "/m/flags?seed=1", body: `{"accept":false}`,
		wantParam: "accept", wantMessage: "accept must be true"},
	{name: "required query int absent", target: "/m/flags", body: `{"accept":true}`,
		wantParam: "seed", wantMessage: "seed is required"},
	{name: "required query int sent as 0", target: "/m/flags?seed=0", body: `{"accept":true}`,
		wantParam: "seed", wantMessage: "seed must not be 0"},
	{name: "required path int sent as 0", method: http.MethodGet, target: "/m/projects/0",
		wantParam: "project", wantMessage: "project must not be 0"},

	// Query and path parameters, worded as the JSON type errors.
	{name: "query not an integer", target: "/m?limit=ten", body: okPrefix + `}`,
		wantParam: "limit", wantMessage: "limit must be an integer"},
	{name: "query over uint8", target: "/m?limit=300", body: okPrefix + `}`,
		wantParam: "limit", wantMessage: "limit must be at most 255"},
	{name: "query negative for unsigned", target: "/m?limit=-1", body: okPrefix + `}`,
		wantParam: "limit", wantMessage: "limit must not be negative"},
	{name: "query fraction for integer", target: "/m?page=1.5", body: okPrefix + `}`,
		wantParam: "page", wantMessage: "page must be an integer"},
	{name: "query not a number", target: "/m?scale=big", body: okPrefix + `}`,
		wantParam: "scale", wantMessage: "scale must be a number"},
	{name: "query float over range", target: "/m?scale=1e999", body: okPrefix + `}`,
		wantParam: "scale", wantMessage: "scale is out of range"},
	{name: "query not a boolean", target: "/m?verbose=maybe", body: okPrefix + `}`,
		wantParam: "verbose", wantMessage: "verbose must be a boolean"},
	{name: "path not an integer", method: http.MethodGet, target: "/m/projects/abc",
		wantParam: "project", wantMessage: "project must be an integer"},
}

func (tc messageCase) request() *http.Request {
	method := tc.method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader = strings.NewReader(tc.body)
	if tc.chunked {
		body = io.MultiReader(body) // hides the length
	}
	req := httptest.NewRequest(method, tc.target, body)
	if tc.chunked {
		req.ContentLength = -1
	}
	switch tc.contentType {
	case "":
		req.Header.Set("Content-Type", "application/json")
	case "-":
	default:
		req.Header.Set("Content-Type", tc.contentType)
	}
	return req
}

// TestBindMessages sends each malformed request through a ServeMux with
// the errorsx renderer and checks the exact message and param.
func TestBindMessages(t *testing.T) {
	e := newMessageServer(t)
	for _, tc := range messageCases {
		t.Run(tc.name, func(t *testing.T) {
			rec, env := serve(t, e, tc.request())
			want := tc.wantStatus
			if want == 0 {
				want = http.StatusBadRequest
			}
			if rec.Code != want {
				t.Fatalf("got status %d, want %d (body %s)", rec.Code, want, rec.Body)
			}
			param := ""
			if env.Error.Param != nil {
				param = *env.Error.Param
			}
			if env.Error.Message != tc.wantMessage || param != tc.wantParam {
				t.Errorf("got message %q param %q, want %q %q", env.Error.Message, param, tc.wantMessage, tc.wantParam)
			}
		})
	}
}

// goDecoderWords are phrases of encoding/json's and Go's own error texts
// that must never reach a client.
var goDecoderWords = []string{
	"invalid character", "literal", "looking for beginning", "json:", "go value",
	"go struct", "unmarshal", "top-level", "of type", "strconv", "parse", "eof",
}

// TestBindMessagesHaveNoDecoderWords sends the table above and a wider set
// of malformed bodies, lenient and strict, and fails on any message that
// speaks in the decoder's words.
func TestBindMessagesHaveNoDecoderWords(t *testing.T) {
	e := newMessageServer(t)
	cases := append([]messageCase(nil), messageCases...)
	for _, body := range []string{
		`nul`, `tru`, `fals`, `nulx`, `truex`, `{"a"`, `{"a":`, `{"a":1`, `{"a":1,`, `{,}`, `{"a":1 "b":2}`,
		`[1 2]`, `[1,]`, `{"a":[}`, `{"a":"\u"}`, `{"a":"\uZZZZ"}`, `{"a":"\x"}`, `{"a":1.}`, `{"a":1e}`,
		`{"a":+1}`, `{"a":.5}`, `{"a":0x10}`, `{"a":NaN}`, `{"a":Infinity}`, `{"a":'x'}`, "{\"a\":\"\t\"}",
		"\xef\xbb\xbf{}", `}`, `]`, `:`, `,`, `{"model":"m"}}`, `{"model":"m"}]`, `{} {}`, `1 2`,
		`{"duration":true}`, `{"duration":[]}`, `{"duration":{}}`, `{"small":1e2}`, `{"count":-0.5}`,
		`{"options":"x"}`, `{"options":{"fps":[1]}}`, `{"tags":[[]]}`, `{"confirm":0}`, `{"addr":[]}`,
		`{"addr":"1.2.3.999"}`, `{"model":"m","model":5}`,
	} {
		for _, target := range []string{"/m", "/m/strict", "/m/flags"} {
			cases = append(cases, messageCase{name: target + " " + body, target: target, body: body})
		}
	}
	for _, tc := range cases {
		rec, env := serve(t, e, tc.request())
		if rec.Code < 400 {
			continue
		}
		if w, ok := decoderWords(env.Error.Message); ok {
			t.Errorf("%s: message %q contains %q", tc.name, env.Error.Message, w)
		}
	}
}

// decoderWords returns the first of goDecoderWords in msg. Our own prefix
// "body is not valid JSON: " names the format and is not Go's "json: ".
func decoderWords(msg string) (string, bool) {
	msg = strings.Replace(strings.ToLower(msg), "body is not valid json: ", "body is not valid: ", 1)
	for _, w := range goDecoderWords {
		if strings.Contains(msg, w) {
			return w, true
		}
	}
	return "", false
}
