package bind

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// fastCheck is the validate tags of a request type compiled, at New, into
// plain comparisons, for the common tags: omitempty (first), required,
// min, max, len, gt, gte, lt, lte and oneof on strings, booleans (required
// only), integers and floats, and on pointers to those; untagged nested
// structs are checked field by field, as the validator walks them.
//
// It only ever says "valid": when valid returns true the request is
// accepted without running the validator, which would have accepted it too
// (the checks are the validator's own, done in the same way: rune counts
// for strings, the parameter parsed as the validator parses it, the
// reflect zero value for required). When it returns false — a field failed
// — the validator runs and its errors are the ones reported, so messages
// and params are unchanged. A type with any tag or field kind outside this
// set has no fastCheck, and every request goes through the validator as
// before. Only the Binder's own validator (no Config.Validator) has one: a
// validator of the user's may redefine a tag.
type fastCheck struct {
	fields []fastField
}

// fastField is one struct field to check.
type fastField struct {
	index  int
	ptr    bool // the field is *T: nil fails unless omit
	omit   bool // the first tag is omitempty
	kind   reflect.Kind
	rules  []fastRule // every one must hold
	nested *fastCheck // an untagged struct (or *struct) field
}

// fastRule is one tag. For strings, the bound is a rune count.
type fastRule struct {
	op  fastOp
	i   int64    // the bound, for strings and signed integers
	u   uint64   // the bound, for unsigned integers
	f   float64  // the bound, for floats
	set []string // oneof's values
}

type fastOp uint8

const (
	opRequired fastOp = iota
	opGTE             // min, gte
	opLTE             // max, lte
	opEQ              // len
	opGT
	opLT
	opOneOf
)

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
)

// compileFastCheck returns the fastCheck of struct type t, or nil when a
// tag or a field is one it does not cover.
func compileFastCheck(t reflect.Type) *fastCheck {
	return compileStruct(t, map[reflect.Type]bool{})
}

func compileStruct(t reflect.Type, seen map[reflect.Type]bool) *fastCheck {
	if seen[t] {
		return nil // a recursive type: leave it to the validator
	}
	seen[t] = true
	defer delete(seen, t)
	fc := &fastCheck{}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.Anonymous && !sf.IsExported() {
			continue // the validator skips unexported fields
		}
		tag, tagged := sf.Tag.Lookup("validate")
		if tag == "-" {
			continue
		}
		ft := sf.Type
		if !tagged || tag == "" {
			// The validator walks untagged structs and *structs (not
			// time.Time), and nothing else.
			ptr := false
			if ft.Kind() == reflect.Pointer {
				ptr, ft = true, ft.Elem()
			}
			switch ft.Kind() {
			case reflect.Struct:
				if ft.ConvertibleTo(timeType) {
					continue
				}
				nested := compileStruct(ft, seen)
				if nested == nil {
					return nil
				}
				fc.fields = append(fc.fields, fastField{index: i, ptr: ptr, omit: ptr, kind: reflect.Struct, nested: nested})
			case reflect.Interface, reflect.Pointer:
				return nil // whatever it holds at run time: the validator's walk
			}
			continue
		}
		f := fastField{index: i}
		if ft.Kind() == reflect.Pointer {
			f.ptr, ft = true, ft.Elem()
		}
		f.kind = ft.Kind()
		if !fastKind(ft) {
			return nil
		}
		for n, name := range strings.Split(tag, ",") {
			if name == "omitempty" && n == 0 {
				f.omit = true
				continue
			}
			r, ok := compileRule(name, ft)
			if !ok {
				return nil
			}
			f.rules = append(f.rules, r)
		}
		fc.fields = append(fc.fields, f)
	}
	return fc
}

// fastKind reports whether values of t are checked here.
func fastKind(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		// The validator reads a time.Duration's bounds as durations.
		return t != durationType
	}
	return false
}

// compileRule parses one tag ("min=1") for a field of type t, as the
// validator parses its parameter; false for anything else.
func compileRule(tag string, t reflect.Type) (fastRule, bool) {
	name, param, hasParam := strings.Cut(tag, "=")
	if strings.ContainsAny(tag, "|'") || strings.Contains(tag, "0x2C") || strings.Contains(tag, "0x7C") {
		return fastRule{}, false // or-lists, quoted values, escaped commas and pipes
	}
	var op fastOp
	switch name {
	case "required":
		if hasParam {
			return fastRule{}, false
		}
		return fastRule{op: opRequired}, true
	case "min", "gte":
		op = opGTE
	case "max", "lte":
		op = opLTE
	case "len":
		op = opEQ
	case "gt":
		op = opGT
	case "lt":
		op = opLT
	case "oneof":
		switch t.Kind() {
		case reflect.Float32, reflect.Float64, reflect.Bool:
			return fastRule{}, false
		}
		return fastRule{op: opOneOf, set: strings.Fields(param)}, true
	default:
		return fastRule{}, false
	}
	if !hasParam {
		return fastRule{}, false
	}
	r := fastRule{op: op}
	var err error
	switch t.Kind() {
	case reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		r.i, err = strconv.ParseInt(param, 0, 64)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		r.u, err = strconv.ParseUint(param, 0, 64)
	case reflect.Float32:
		r.f, err = strconv.ParseFloat(param, 32)
	case reflect.Float64:
		r.f, err = strconv.ParseFloat(param, 64)
	default: // bool: only required
		return fastRule{}, false
	}
	return r, err == nil
}

// valid reports whether the struct v certainly passes the validator.
func (fc *fastCheck) valid(v reflect.Value) bool {
	for i := range fc.fields {
		f := &fc.fields[i]
		fv := v.Field(f.index)
		if f.ptr {
			if fv.IsNil() {
				if f.omit {
					continue
				}
				return false // the validator fails a nil pointer on its first tag
			}
			fv = fv.Elem()
		} else if f.omit && fv.IsZero() {
			continue
		}
		if f.nested != nil {
			if !f.nested.valid(fv) {
				return false
			}
			continue
		}
		for j := range f.rules {
			if !f.rules[j].holds(fv, f.kind, f.ptr) {
				return false
			}
		}
	}
	return true
}

// holds checks one rule on fv, a value of kind k; ptr says it was reached
// through a non-nil pointer (where required holds whatever the value).
func (r *fastRule) holds(fv reflect.Value, k reflect.Kind, ptr bool) bool {
	if r.op == opRequired {
		return ptr || !fv.IsZero()
	}
	switch k {
	case reflect.String:
		s := fv.String()
		// A string of n bytes has between ceil(n/4) and n runes (an
		// invalid byte counts as one, as in utf8.RuneCountInString): most
		// bounds are settled without counting.
		n := int64(len(s))
		switch r.op {
		case opOneOf:
			return slices.Contains(r.set, s)
		case opLTE:
			if n <= r.i {
				return true
			}
		case opLT:
			if n < r.i {
				return true
			}
		case opGTE:
			if (n+3)/4 >= r.i {
				return true
			}
		case opGT:
			if (n+3)/4 > r.i {
				return true
			}
		}
		return compare(r.op, int64(utf8.RuneCountInString(s)), r.i)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if r.op == opOneOf {
			return slices.Contains(r.set, strconv.FormatInt(fv.Int(), 10))
		}
		return compare(r.op, fv.Int(), r.i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if r.op == opOneOf {
			return slices.Contains(r.set, strconv.FormatUint(fv.Uint(), 10))
		}
		return compare(r.op, fv.Uint(), r.u)
	case reflect.Float32, reflect.Float64:
		return compare(r.op, fv.Float(), r.f)
	}
	return false
}

func compare[N int64 | uint64 | float64](op fastOp, v, bound N) bool {
	switch op {
	case opGTE:
		return v >= bound
	case opLTE:
		return v <= bound
	case opEQ:
		return v == bound
	case opGT:
		return v > bound
	case opLT:
		return v < bound
	}
	return false
}
