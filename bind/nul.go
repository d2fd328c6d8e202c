package bind

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/clipia/apiguard/errorsx"
)

// errNUL is the cause of the 400 for a string holding U+0000.
var errNUL = nulError{}

type nulError struct{}

func (nulError) Error() string { return "bind: a string holds U+0000, which PostgreSQL cannot store" }

// nulEscape is how U+0000 appears in a JSON body: encoding/json refuses a
// raw NUL byte inside a string, so only the escape can carry one.
var nulEscape = []byte(`\u0000`)

// refuseNUL returns the 400 for the first string the request binds that
// holds U+0000: a query or path parameter, else a JSON string value or
// member name that the value keeps (an unknown member that the decoder
// drops is no harm). nil when there is none, or with [Config].AllowNUL.
func (b *binder) refuseNUL(r *http.Request, param func(string) string, data []byte) *errorsx.Error {
	if b.cfg.AllowNUL {
		return nil
	}
	if hasNULEscape(data) {
		if p, ok := locateNUL(data, b.plan.t); ok {
			return nulErr(p)
		}
	}
	if len(b.plan.query) > 0 && strings.IndexByte(r.URL.RawQuery, '%') >= 0 {
		q := r.URL.Query()
		for _, pf := range b.plan.query {
			for _, v := range q[pf.name] {
				if strings.IndexByte(v, 0) >= 0 {
					return nulErr(pf.name)
				}
			}
		}
	}
	if param != nil {
		for _, pf := range b.plan.path {
			if strings.IndexByte(param(pf.name), 0) >= 0 {
				return nulErr(pf.name)
			}
		}
	}
	return nil
}

func nulErr(param string) *errorsx.Error {
	name := param
	if name == "" {
		name = "body"
	}
	return errorsx.InvalidRequest().WithParam(param).
		WithMessage(name + " must not contain the character U+0000").WithCause(errNUL)
}

// hasNULEscape reports whether data holds the JSON escape \u0000 (and not
// an escaped backslash followed by "u0000").
func hasNULEscape(data []byte) bool {
	for off := 0; ; {
		i := bytes.Index(data[off:], nulEscape)
		if i < 0 {
			return false
		}
		i += off
		n := 0 // backslashes before the one at i
		for j := i - 1; j >= 0 && data[j] == '\\'; j-- {
			n++
		}
		if n%2 == 0 {
			return true
		}
		off = i + 1
	}
}

// locateNUL walks data, a JSON body already decoded into type t, and
// returns the path of the first string value holding U+0000, or of the
// object whose member name holds it, among the members t keeps.
func locateNUL(data []byte, t reflect.Type) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p, ok, _ := nulValue(dec, t, "", 0)
	return p, ok
}

func nulValue(dec *json.Decoder, t reflect.Type, path string, depth int) (string, bool, error) {
	if depth > maxLocateDepth {
		return "", false, nil
	}
	tok, err := dec.Token()
	if err != nil {
		return "", false, err
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(jsonUnmarshalerType)) {
		t = nil // any, or a type that decodes itself: every member counts
	}
	switch tok := tok.(type) {
	case string:
		return path, strings.IndexByte(tok, 0) >= 0, nil
	case json.Delim:
		switch tok {
		case '{':
			var fields map[string]jsonField
			if t != nil && t.Kind() == reflect.Struct {
				fields = jsonFields(t)
			}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return "", false, err
				}
				key, _ := kt.(string)
				var ft reflect.Type
				name := key
				if fields != nil {
					f, known := matchField(fields, key)
					if !known {
						if err := skipValue(dec); err != nil {
							return "", false, err
						}
						continue
					}
					ft, name = f.typ, f.name
				} else {
					if strings.IndexByte(key, 0) >= 0 {
						return path, true, nil
					}
					if t != nil && t.Kind() == reflect.Map {
						ft = t.Elem()
					}
				}
				if p, found, err := nulValue(dec, ft, join(path, name), depth+1); found || err != nil {
					return p, found, err
				}
			}
			_, err = dec.Token()
			return "", false, err
		case '[':
			var et reflect.Type
			if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
				et = t.Elem()
			}
			for i := 0; dec.More(); i++ {
				if p, found, err := nulValue(dec, et, path+"["+strconv.Itoa(i)+"]", depth+1); found || err != nil {
					return p, found, err
				}
			}
			_, err = dec.Token()
			return "", false, err
		}
	}
	return "", false, nil
}

// skipValue reads and drops the next JSON value of dec.
func skipValue(dec *json.Decoder) error {
	var raw json.RawMessage
	return dec.Decode(&raw)
}
