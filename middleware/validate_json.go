package middleware

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/clipia/apiguard/errorsx"
	"github.com/labstack/echo/v4"
)

var bodyBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledBody is the largest buffer put back into the pool, so one big
// body does not pin memory.
const maxPooledBody = 64 << 10

// bindBody reads the JSON body into v, per the route's BodyMode.
func (b *binder) bindBody(c echo.Context, v any) error {
	req := c.Request()
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
		return nil
	}
	limit := b.cfg.MaxBodyBytes
	if req.ContentLength > limit {
		return tooLarge(limit, nil)
	}
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0 {
		return emptyBody(mode)
	}
	if err := checkContentType(req.Header.Get(echo.HeaderContentType)); err != nil {
		return err
	}

	bp := bodyBufPool.Get().(*[]byte)
	defer putBodyBuf(bp)
	var body io.Reader = req.Body
	if req.ContentLength < 0 {
		// A body of unknown length (chunked): MaxBytesReader also tells
		// net/http to close the connection instead of draining the rest.
		body = http.MaxBytesReader(c.Response().Writer, req.Body, limit)
	}
	data, err := readBody((*bp)[:0], body, limit, req.ContentLength)
	*bp = data[:0]
	if err != nil {
		return readError(err, limit)
	}
	if isBlank(data) {
		return emptyBody(mode)
	}
	if !b.cfg.Strict {
		// One pass without a Decoder: json.Unmarshal validates the whole
		// input, trailing data included, before it decodes.
		if err := json.Unmarshal(data, v); err != nil {
			return decodeError(err, data, b.plan.t)
		}
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, data, b.plan.t)
	}
	if off := dec.InputOffset(); !isBlank(data[off:]) {
		at := off + int64(len(data[off:])-len(bytes.TrimLeft(data[off:], " \t\r\n")))
		return trailingData(at + 1)
	}
	return nil
}

func putBodyBuf(bp *[]byte) {
	if cap(*bp) <= maxPooledBody {
		bodyBufPool.Put(bp)
	}
}

// readBody appends r to buf until EOF, like io.ReadAll, but never holds
// more than limit+1 bytes: one byte over the limit is an
// *http.MaxBytesError. size is the declared Content-Length (-1: unknown),
// used only to size the buffer.
func readBody(buf []byte, r io.Reader, limit, size int64) ([]byte, error) {
	if size >= 0 && size <= limit && int64(cap(buf)) < size+1 {
		buf = make([]byte, 0, size+1)
	}
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return buf, &http.MaxBytesError{Limit: limit}
			}
			buf = append(buf, 0)[:len(buf)]
		}
		room := buf[len(buf):cap(buf)]
		if over := int64(len(buf)) + int64(len(room)) - (limit + 1); over > 0 {
			room = room[:int64(len(room))-over]
		}
		n, err := r.Read(room)
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, &http.MaxBytesError{Limit: limit}
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
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

func tooLarge(limit int64, cause error) error {
	if cause == nil {
		cause = &http.MaxBytesError{Limit: limit}
	}
	return errorsx.InvalidRequest().
		WithMessage("request body is larger than " + strconv.FormatInt(limit, 10) + " bytes").
		WithCause(cause)
}

func readError(err error, limit int64) error {
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &mb):
		return tooLarge(limit, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errorsx.From(err)
	}
	// A broken chunked encoding, a client that hung up mid-body, a read
	// timeout: the body as sent is unusable.
	return errorsx.InvalidRequest().WithMessage("request body could not be read").WithCause(err)
}

// checkContentType accepts application/json and any application/*+json,
// with no charset or utf-8.
func checkContentType(ct string) error {
	switch ct {
	case echo.MIMEApplicationJSON, "application/json; charset=UTF-8", "application/json; charset=utf-8":
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
	if mt != echo.MIMEApplicationJSON && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
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

type locator struct {
	dec     *json.Decoder
	offset  int64
	unknown string
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
