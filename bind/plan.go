package bind

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/clipia/apiguard/errorsx"
)

// plan is what New learns about a request type once, at construction: the
// fields bound from the query string and the path, and the JSON path of
// every (nested) field for model rules and defaults.
type plan struct {
	t      reflect.Type
	query  []paramField
	path   []paramField
	fields map[string]planField
}

// planField is one field reachable by a JSON path; index walks struct
// fields, dereferencing (and, when setting, allocating) pointers on the way.
type planField struct {
	index [][]int
	typ   reflect.Type
}

// paramField is a field bound from the query string or the path.
type paramField struct {
	name  string
	index []int
	typ   reflect.Type // the field's type
	elem  reflect.Type // the type a single value parses into
	ptr   bool         // field is *elem
	slice bool         // field is []elem (query only: repeated values)
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

func newPlan(t reflect.Type) (*plan, error) {
	p := &plan{t: t, fields: map[string]planField{}}
	if err := p.collectParams(t, nil); err != nil {
		return nil, err
	}
	p.collectFields(t, "", nil, map[reflect.Type]bool{})
	return p, nil
}

func (p *plan) collectParams(t reflect.Type, index []int) error {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		idx := append(append([]int(nil), index...), i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct && f.Tag.Get("query") == "" && f.Tag.Get("param") == "" {
			if err := p.collectParams(f.Type, idx); err != nil {
				return err
			}
			continue
		}
		for _, src := range [...]string{"query", "param"} {
			name := tagName(f.Tag.Get(src))
			if name == "" || name == "-" {
				continue
			}
			if !f.IsExported() {
				return fmt.Errorf("field %s has a %s tag but is not exported", f.Name, src)
			}
			pf, err := newParamField(name, idx, f.Type, src == "query")
			if err != nil {
				return fmt.Errorf("field %s: %w", f.Name, err)
			}
			if src == "query" {
				p.query = append(p.query, pf)
			} else {
				p.path = append(p.path, pf)
			}
		}
	}
	return nil
}

func newParamField(name string, index []int, t reflect.Type, multi bool) (paramField, error) {
	pf := paramField{name: name, index: index, typ: t, elem: t}
	if !parsable(t) {
		switch {
		case t.Kind() == reflect.Pointer && parsable(t.Elem()):
			pf.ptr, pf.elem = true, t.Elem()
		case multi && t.Kind() == reflect.Slice && parsable(t.Elem()):
			pf.slice, pf.elem = true, t.Elem()
		default:
			return pf, fmt.Errorf("type %s cannot be bound from a %s parameter", t, map[bool]string{true: "query", false: "path"}[multi])
		}
	}
	return pf, nil
}

func parsable(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// collectFields records the JSON path of every field, recursing into
// nested structs (not into lists or maps, whose items have no fixed path).
func (p *plan) collectFields(t reflect.Type, prefix string, index [][]int, seen map[reflect.Type]bool) {
	if seen[t] {
		return
	}
	seen[t] = true
	defer delete(seen, t)
	var walk func(t reflect.Type, base []int)
	walk = func(t reflect.Type, base []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			idx := append(append([]int(nil), base...), i)
			name, inJSON := jsonName(f)
			_, named := f.Tag.Lookup("json")
			if f.Anonymous && !named {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					if f.Type.Kind() == reflect.Pointer {
						// An embedded pointer is a hop of its own.
						p.collectFields(ft, prefix, append(append([][]int(nil), index...), idx), seen)
					} else {
						walk(ft, idx)
					}
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if !inJSON {
				name = fieldName(f) // query/param-only fields keep their parameter name
			}
			path := prefix + name
			hops := append(append([][]int(nil), index...), idx)
			if _, dup := p.fields[path]; !dup {
				p.fields[path] = planField{index: hops, typ: f.Type}
			}
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(textUnmarshalerType) &&
				!reflect.PointerTo(ft).Implements(jsonUnmarshalerType) {
				p.collectFields(ft, path+".", hops, seen)
			}
		}
	}
	walk(t, nil)
}

var jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// lookup returns the field at path in v, or false when the path is unknown
// or a pointer on the way (or the field itself, if a pointer) is nil. The
// returned value is the dereferenced field.
func (p *plan) lookup(v reflect.Value, path string) (reflect.Value, bool) {
	pf, ok := p.fields[path]
	if !ok {
		return reflect.Value{}, false
	}
	for _, hop := range pf.index {
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.FieldByIndex(hop)
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return reflect.Value{}, false
		}
		v = v.Elem()
	}
	return v, true
}

// settable returns the field at path in v, allocating nil struct pointers
// on the way, without dereferencing the field itself.
func (p *plan) settable(v reflect.Value, path string) (reflect.Value, bool) {
	pf, ok := p.fields[path]
	if !ok {
		return reflect.Value{}, false
	}
	for _, hop := range pf.index {
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.FieldByIndex(hop)
	}
	return v, true
}

// checkModel reports a model whose defaults or built-in rules name fields
// the request type lacks or cannot hold.
func (p *plan) checkModel(m *Model) error {
	if m == nil {
		return nil
	}
	for path, val := range m.Defaults {
		pf, ok := p.fields[path]
		if !ok {
			return fmt.Errorf("model %q: default for unknown field %q", m.ID, path)
		}
		if !convertible(reflect.TypeOf(val), pf.typ) {
			return fmt.Errorf("model %q: default for %q: %T does not fit %s", m.ID, path, val, pf.typ)
		}
	}
	for _, r := range m.Rules {
		if c, ok := r.(interface{ checkPlan(*plan) error }); ok {
			if err := c.checkPlan(p); err != nil {
				return fmt.Errorf("model %q: %w", m.ID, err)
			}
		}
	}
	return nil
}

// applyDefaults sets each of m's defaults whose field is still zero (or a
// nil pointer).
func (p *plan) applyDefaults(m *Model, v reflect.Value) error {
	for path, val := range m.Defaults {
		f, ok := p.settable(v, path)
		if !ok {
			return fmt.Errorf("model %q: default for unknown field %q", m.ID, path)
		}
		if !f.IsZero() {
			continue
		}
		src := reflect.ValueOf(val)
		if !convertible(src.Type(), f.Type()) {
			return fmt.Errorf("model %q: default for %q: %T does not fit %s", m.ID, path, val, f.Type())
		}
		if f.Kind() == reflect.Pointer && !src.Type().AssignableTo(f.Type()) {
			n := reflect.New(f.Type().Elem())
			n.Elem().Set(src.Convert(f.Type().Elem()))
			f.Set(n)
			continue
		}
		f.Set(src.Convert(f.Type()))
	}
	return nil
}

// convertible reports whether a default of type src may be stored in a
// field of type dst: assignable, or both numbers, or both strings (Go's own
// int-to-string conversion is not wanted here); a pointer field takes its
// element's defaults.
func convertible(src, dst reflect.Type) bool {
	if src == nil {
		return false
	}
	if src.AssignableTo(dst) {
		return true
	}
	if dst.Kind() == reflect.Pointer {
		dst = dst.Elem()
		if src.AssignableTo(dst) {
			return true
		}
	}
	switch {
	case isNumber(src.Kind()) && isNumber(dst.Kind()):
		return true
	case src.Kind() == reflect.String && dst.Kind() == reflect.String:
		return true
	}
	return false
}

func isNumber(k reflect.Kind) bool {
	return isInt(k) || isUint(k) || k == reflect.Float32 || k == reflect.Float64
}

func isInt(k reflect.Kind) bool {
	return k >= reflect.Int && k <= reflect.Int64
}

func isUint(k reflect.Kind) bool {
	return k >= reflect.Uint && k <= reflect.Uintptr
}

// bindParams sets the query-string fields, then the path fields (param
// nil: none; an empty value is absent).
func (p *plan) bindParams(r *http.Request, param func(string) string, v reflect.Value) error {
	if len(p.query) > 0 {
		q := r.URL.Query()
		for i := range p.query {
			pf := &p.query[i]
			vals, ok := q[pf.name]
			if !ok || len(vals) == 0 {
				continue
			}
			if err := pf.set(v.FieldByIndex(pf.index), vals); err != nil {
				return err
			}
		}
	}
	if len(p.path) > 0 && param != nil {
		for i := range p.path {
			pf := &p.path[i]
			raw := param(pf.name)
			if raw == "" {
				continue
			}
			if err := pf.set(v.FieldByIndex(pf.index), []string{raw}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (pf *paramField) set(f reflect.Value, vals []string) error {
	switch {
	case pf.slice:
		s := reflect.MakeSlice(pf.typ, len(vals), len(vals))
		for i, raw := range vals {
			if err := pf.parse(s.Index(i), raw, pf.name+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		f.Set(s)
		return nil
	case pf.ptr:
		raw := vals[0]
		if raw == "" && pf.elem.Kind() != reflect.String {
			return nil
		}
		n := reflect.New(pf.elem)
		if err := pf.parse(n.Elem(), raw, pf.name); err != nil {
			return err
		}
		f.Set(n)
		return nil
	}
	raw := vals[0]
	if raw == "" && pf.elem.Kind() != reflect.String {
		return nil
	}
	return pf.parse(f, raw, pf.name)
}

// parse stores raw in f (of type pf.elem); a value that does not parse is a
// 400 naming the parameter, worded like the JSON type errors.
func (pf *paramField) parse(f reflect.Value, raw, name string) error {
	if tu, ok := f.Addr().Interface().(encoding.TextUnmarshaler); ok {
		if err := tu.UnmarshalText([]byte(raw)); err != nil {
			return errorsx.InvalidRequest().WithParam(name).WithMessage(name + " is not valid").WithCause(err)
		}
		return nil
	}
	var err error
	switch k := f.Kind(); {
	case k == reflect.String:
		f.SetString(raw)
	case k == reflect.Bool:
		var b bool
		if b, err = strconv.ParseBool(raw); err == nil {
			f.SetBool(b)
		}
	case isInt(k):
		var n int64
		if n, err = strconv.ParseInt(raw, 10, f.Type().Bits()); err == nil {
			f.SetInt(n)
		}
	case isUint(k):
		var n uint64
		if n, err = strconv.ParseUint(raw, 10, f.Type().Bits()); err == nil {
			f.SetUint(n)
		}
	case k == reflect.Float32 || k == reflect.Float64:
		var n float64
		if n, err = strconv.ParseFloat(raw, f.Type().Bits()); err == nil {
			f.SetFloat(n)
		}
	}
	if err != nil {
		value := "string"
		if k := f.Kind(); isInt(k) || isUint(k) || errors.Is(err, strconv.ErrRange) {
			// Worded as JSON's type errors, which tell an integer out
			// of range ("limit must be at most 255", "must not be
			// negative") from a value that is not one; the value itself
			// is never echoed.
			value = "number " + strings.TrimPrefix(raw, "+")
		}
		return errorsx.FromUnmarshalTypeError(&json.UnmarshalTypeError{Value: value, Type: f.Type(), Field: name}).
			WithCause(fmt.Errorf("parameter %s: %w", name, err))
	}
	return nil
}
