package bind

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/bodyread"
)

var bodyBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledBody is the largest buffer put back into the pool, so one big
// body does not pin memory.
const maxPooledBody = 64 << 10

// bindBody reads the JSON body into v, per the route's BodyMode, and returns
// the bytes read (in buf's array; nil when the route reads no body), for
// describing a later validation error.
func (b *binder) bindBody(w http.ResponseWriter, req *http.Request, v any, buf []byte) ([]byte, error) {
	mode := b.cfg.Body
	if mode == BodyAuto {
		switch req.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			mode = BodyRequired
		default:
			mode = BodyNone
		}
	}
	if mode == BodyNone {
		return nil, nil
	}
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0 {
		return nil, emptyBody(mode)
	}
	if req.ContentLength <= b.cfg.MaxBodyBytes {
		// A body declared over the limit is "too large" whatever its
		// type; bodyread.Read says so before reading.
		if err := checkContentType(req.Header.Get("Content-Type")); err != nil {
			return nil, err
		}
	}
	data, rerr := bodyread.Read(buf, w, req, b.cfg.MaxBodyBytes, b.cfg.ReadTimeout)
	if rerr != nil {
		return data, rerr
	}
	if isBlank(data) {
		return data, emptyBody(mode)
	}
	if !b.cfg.Strict {
		// One pass without a Decoder: json.Unmarshal validates the whole
		// input, trailing data included, before it decodes.
		if err := json.Unmarshal(data, v); err != nil {
			return data, decodeError(err, data, b.plan.t)
		}
		return data, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return data, decodeError(err, data, b.plan.t)
	}
	if off := dec.InputOffset(); !isBlank(data[off:]) {
		at := off + int64(len(data[off:])-len(bytes.TrimLeft(data[off:], " \t\r\n")))
		return data, trailingData(at + 1)
	}
	return data, nil
}

// putBodyBuf returns the buffer of one request to the pool: data, when a
// body was read into it (or into a larger array bodyread allocated), else
// the buffer as taken.
func putBodyBuf(bp *[]byte, data []byte) {
	if data != nil {
		if cap(data) > maxPooledBody {
			return
		}
		*bp = data[:0]
	}
	bodyBufPool.Put(bp)
}

// trailingData is the 400 for a second value after the JSON body; at is the
// 1-based position of its first byte, as in encoding/json's syntax errors.
func trailingData(at int64) error {
	return errorsx.InvalidRequest().
		WithMessage("body is not valid JSON: unexpected data after the JSON value at byte " + strconv.FormatInt(at, 10)).
		WithCause(errTrailingData)
}

var (
	errTrailingData = errors.New("trailing data after the JSON body")
	errEmptyBody    = errors.New("empty request body")
	errContentType  = errors.New("request Content-Type is not JSON")
)

func emptyBody(mode BodyMode) error {
	if mode == BodyRequired {
		return errorsx.InvalidRequest().WithMessage("request body is required").WithCause(errEmptyBody)
	}
	return nil
}

const mimeJSON = "application/json"

// checkContentType accepts application/json and any application/*+json,
// with no charset or utf-8.
func checkContentType(ct string) error {
	switch ct {
	case mimeJSON, "application/json; charset=UTF-8", "application/json; charset=utf-8":
		return nil
	}
	bad := func(cause error) error {
		return errorsx.InvalidRequest().WithMessage("Content-Type must be application/json").WithCause(cause)
	}
	if ct == "" {
		return bad(errContentType)
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return bad(err)
	}
	if mt != mimeJSON && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return bad(errContentType)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return errorsx.InvalidRequest().WithMessage("Content-Type charset must be utf-8").WithCause(errContentType)
	}
	return nil
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// decodeError turns an encoding/json error into a 400 that names the field,
// with [i] for list items (encoding/json's own path has no indices).
func decodeError(err error, data []byte, t reflect.Type) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorsx.InvalidRequest().
			WithMessage("body is not valid JSON: unexpected end of input at byte " + strconv.Itoa(len(data))).
			WithCause(err)
	case errors.As(err, &syn):
		// json.Unmarshal reports truncation and trailing data as syntax
		// errors; word them as the Decoder path does.
		switch msg := syn.Error(); {
		case msg == "unexpected end of JSON input":
			return errorsx.InvalidRequest().
				WithMessage("body is not valid JSON: unexpected end of input at byte " + strconv.Itoa(len(data))).
				WithCause(err)
		case strings.HasSuffix(msg, " after top-level value") && syn.Offset > 0 && syn.Offset <= int64(len(data)) &&
			!isBlank(data[:syn.Offset-1]) && json.Valid(data[:syn.Offset-1]):
			return trailingData(syn.Offset)
		case strings.HasPrefix(msg, "invalid character ") && !strings.HasSuffix(msg, " exceeded max depth") &&
			syn.Offset > 0 && syn.Offset <= int64(len(data)):
			// The offending byte is data[Offset-1]; name the character
			// it starts, as the client wrote it.
			return errorsx.InvalidRequest().
				WithMessage("body is not valid JSON: unexpected character " + quoteChar(data[syn.Offset-1:]) +
					" at byte " + strconv.FormatInt(syn.Offset, 10)).
				WithCause(err)
		}
		return errorsx.From(syn)
	case errors.As(err, &typ):
		named := *typ
		if p, ok := locate(data, t, typ.Offset, ""); ok {
			named.Field = p
		}
		return errorsx.FromUnmarshalTypeError(&named).WithCause(err)
	}
	if key, ok := unknownField(err); ok {
		path := key
		if p, ok := locate(data, t, -1, key); ok {
			path = p
		}
		return errorsx.InvalidRequest().WithParam(path).WithMessage(path + " is not a known field").WithCause(err)
	}
	// An UnmarshalJSON or UnmarshalText of a field type rejected its value.
	return errorsx.InvalidRequest().WithMessage("body contains a value that is not valid").WithCause(err)
}

// quoteChar quotes the character that b starts with, as strconv.QuoteRune
// does ('o', '\n', 'é'), or as '\xff' when b does not start with UTF-8.
func quoteChar(b []byte) string {
	r, size := utf8.DecodeRune(b)
	if r == utf8.RuneError && size <= 1 {
		return `'\x` + strconv.FormatUint(uint64(b[0]), 16) + `'`
	}
	return strconv.QuoteRune(r)
}

// unknownField recognises encoding/json's DisallowUnknownFields error,
// which has no type of its own: `json: unknown field "name"`.
func unknownField(err error) (string, bool) {
	const prefix = "json: unknown field "
	msg := err.Error()
	if !strings.HasPrefix(msg, prefix) {
		return "", false
	}
	key, uerr := strconv.Unquote(msg[len(prefix):])
	return key, uerr == nil
}

// locate walks data (already known to be syntactically valid up to the
// error) alongside type t and returns the path of either the value whose
// token ends at offset (offset >= 0: where encoding/json reported a type
// error) or the first object member named unknown that matches no field of
// its struct. It is only used to describe an error, so any doubt returns
// false and the caller falls back to encoding/json's own path.
func locate(data []byte, t reflect.Type, offset int64, unknown string) (string, bool) {
	l := &locator{dec: json.NewDecoder(bytes.NewReader(data)), offset: offset, unknown: unknown}
	l.dec.UseNumber()
	p, ok, _ := l.value(t, "", 0)
	return p, ok
}

// present reports whether data, a JSON body for type t, has a member other
// than null at path (JSON names, dotted, [i] for list items).
func present(data []byte, t reflect.Type, path string) bool {
	l := &locator{dec: json.NewDecoder(bytes.NewReader(data)), offset: -1, target: path}
	l.dec.UseNumber()
	_, ok, _ := l.value(t, "", 0)
	return ok
}

type locator struct {
	dec     *json.Decoder
	offset  int64
	unknown string
	target  string // with offset < 0: find the non-null value at this path
}

// maxLocateDepth bounds the recursion on hostile nesting; encoding/json
// itself stops at 10000 levels.
const maxLocateDepth = 10000

func (l *locator) value(t reflect.Type, path string, depth int) (string, bool, error) {
	if depth > maxLocateDepth {
		return "", false, errors.New("too deep")
	}
	tok, err := l.dec.Token()
	if err != nil {
		return "", false, err
	}
	if l.offset >= 0 && l.dec.InputOffset() == l.offset {
		return path, true, nil
	}
	if l.target != "" && path == l.target {
		if tok == nil {
			return "", false, nil // null: as if absent
		}
		return path, true, nil
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (reflect.PointerTo(t).Implements(jsonUnmarshalerType) || t.Kind() == reflect.Interface) {
		t = nil
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return "", false, nil
	}
	switch d {
	case '{':
		var fields map[string]jsonField
		if t != nil && t.Kind() == reflect.Struct {
			fields = jsonFields(t)
		}
		for l.dec.More() {
			kt, err := l.dec.Token()
			if err != nil {
				return "", false, err
			}
			key, _ := kt.(string)
			var ft reflect.Type
			name := key
			switch {
			case fields != nil:
				f, known := matchField(fields, key)
				if !known {
					if l.unknown != "" && key == l.unknown {
						return join(path, key), true, nil
					}
				} else {
					ft, name = f.typ, f.name
				}
			case t != nil && t.Kind() == reflect.Map:
				ft = t.Elem()
			}
			if p, found, err := l.value(ft, join(path, name), depth+1); found || err != nil {
				return p, found, err
			}
		}
		_, err = l.dec.Token()
		return "", false, err
	case '[':
		var et reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			et = t.Elem()
		}
		for i := 0; l.dec.More(); i++ {
			if p, found, err := l.value(et, path+"["+strconv.Itoa(i)+"]", depth+1); found || err != nil {
				return p, found, err
			}
		}
		_, err = l.dec.Token()
		return "", false, err
	}
	return "", false, nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

type jsonField struct {
	name string
	typ  reflect.Type
}

// jsonFields lists the JSON members of struct type t the way encoding/json
// names them, promoting the fields of embedded structs (shallower wins).
func jsonFields(t reflect.Type) map[string]jsonField {
	out := map[string]jsonField{}
	var walk func(t reflect.Type, depth int)
	walk = func(t reflect.Type, depth int) {
		if depth > 16 {
			return
		}
		var embedded []reflect.Type
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			_, named := f.Tag.Lookup("json")
			if f.Anonymous && (!named || tagName(f.Tag.Get("json")) == "") {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					embedded = append(embedded, ft)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			name, ok := jsonName(f)
			if !ok {
				continue
			}
			if _, dup := out[name]; !dup {
				out[name] = jsonField{name: name, typ: f.Type}
			}
		}
		for _, et := range embedded {
			walk(et, depth+1)
		}
	}
	walk(t, 0)
	return out
}

// matchField finds key among fields: exactly, else case-insensitively, as
// encoding/json does.
func matchField(fields map[string]jsonField, key string) (jsonField, bool) {
	if f, ok := fields[key]; ok {
		return f, true
	}
	for n, f := range fields {
		if strings.EqualFold(n, key) {
			return f, true
		}
	}
	return jsonField{}, false
}
