package openapi

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Schema is a JSON Schema (draft 2020-12, OpenAPI 3.1's dialect), with the
// keywords this package writes. Marshal it with encoding/json.
type Schema struct {
	Ref                  string             `json:"$ref,omitempty"`
	Type                 any                `json:"type,omitempty"` // a string, or []string{"integer", "null"}
	Format               string             `json:"format,omitempty"`
	Description          string             `json:"description,omitempty"`
	Enum                 []any              `json:"enum,omitempty"`
	Const                any                `json:"const,omitempty"`
	Minimum              *float64           `json:"minimum,omitempty"`
	ExclusiveMinimum     *float64           `json:"exclusiveMinimum,omitempty"`
	Maximum              *float64           `json:"maximum,omitempty"`
	ExclusiveMaximum     *float64           `json:"exclusiveMaximum,omitempty"`
	MinLength            *int64             `json:"minLength,omitempty"`
	MaxLength            *int64             `json:"maxLength,omitempty"`
	Pattern              string             `json:"pattern,omitempty"`
	Items                *Schema            `json:"items,omitempty"`
	MinItems             *int64             `json:"minItems,omitempty"`
	MaxItems             *int64             `json:"maxItems,omitempty"`
	Properties           map[string]*Schema `json:"properties,omitempty"`
	Required             []string           `json:"required,omitempty"`
	AdditionalProperties any                `json:"additionalProperties,omitempty"` // *Schema or false
	MinProperties        *int64             `json:"minProperties,omitempty"`
	MaxProperties        *int64             `json:"maxProperties,omitempty"`
}

// ReflectConfig configures [Reflect].
type ReflectConfig struct {
	// Validate is the struct tag holding go-playground/validator rules.
	// Empty: "validate". Empty Validate and NoValidate false read them.
	Validate string
	// Response reflects a value the server writes (a response body):
	// validation tags are ignored, and every field without omitempty is
	// required, since encoding/json always writes it.
	Response bool
	// Strict forbids object members that match no field
	// (additionalProperties: false), as bind.Config.Strict refuses them.
	Strict bool
}

// Reflect returns the JSON Schema of the JSON form of t, as encoding/json
// reads and writes it: struct fields by their json names (embedded structs
// promoted, json:"-" left out), pointers nullable, []byte a base64 string,
// time.Time a date-time string, a TextMarshaler a string, maps with string
// keys objects.
//
// Unless cfg.Response, the go-playground/validator rules of each field
// narrow it: required puts the field in the object's required list (every
// other field is optional, pointers and omitempty included); min and max
// are minLength/maxLength on strings, minimum/maximum on numbers,
// minItems/maxItems on lists and minProperties/maxProperties on maps; len
// fixes both; gt, gte, lt and lte likewise (exclusive bounds on numbers);
// eq is const; oneof is an enum; email, url (uri), uuid (uuid3/4/5),
// hostname, ipv4, ipv6 and datetime are formats; rules after dive apply to
// a list's items. Rules that JSON Schema cannot say (cross-field rules,
// custom validations, alternatives with "|") are left out: the schema then
// accepts more than the server, never less.
func Reflect(t reflect.Type, cfg ReflectConfig) *Schema {
	if cfg.Validate == "" {
		cfg.Validate = "validate"
	}
	r := reflector{cfg: cfg, seen: map[reflect.Type]bool{}}
	return r.schema(t)
}

type reflector struct {
	cfg  ReflectConfig
	seen map[reflect.Type]bool // types on the way down: a recursive type is any value
}

var (
	timeType            = reflect.TypeFor[time.Time]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
	jsonMarshalerType   = reflect.TypeFor[json.Marshaler]()
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	rawMessageType      = reflect.TypeFor[json.RawMessage]()
)

func (r *reflector) schema(t reflect.Type) *Schema {
	switch {
	case t == timeType:
		return &Schema{Type: "string", Format: "date-time"}
	case t == rawMessageType:
		return &Schema{}
	case t.Kind() == reflect.Pointer:
		s := r.schema(t.Elem())
		if typ, ok := s.Type.(string); ok {
			s.Type = []string{typ, "null"}
		}
		return s
	case t.Implements(jsonMarshalerType) || reflect.PointerTo(t).Implements(jsonUnmarshalerType):
		return &Schema{} // its own JSON form: anything
	case t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType):
		return &Schema{Type: "string"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return &Schema{Type: "boolean"}
	case reflect.Int, reflect.Int64:
		return &Schema{Type: "integer", Format: "int64"}
	case reflect.Int8, reflect.Int16, reflect.Int32:
		return &Schema{Type: "integer", Format: "int32"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return &Schema{Type: "integer", Minimum: float(0)}
	case reflect.Float32:
		return &Schema{Type: "number", Format: "float"}
	case reflect.Float64:
		return &Schema{Type: "number", Format: "double"}
	case reflect.String:
		return &Schema{Type: "string"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice {
			return &Schema{Type: "string", Format: "byte"}
		}
		s := &Schema{Type: "array", Items: r.schema(t.Elem())}
		if t.Kind() == reflect.Array {
			s.MinItems, s.MaxItems = count(int64(t.Len())), count(int64(t.Len()))
		}
		return s
	case reflect.Map:
		return &Schema{Type: "object", AdditionalProperties: r.schema(t.Elem())}
	case reflect.Struct:
		if r.seen[t] {
			return &Schema{}
		}
		r.seen[t] = true
		defer delete(r.seen, t)
		s := &Schema{Type: "object", Properties: map[string]*Schema{}}
		r.fields(t, s)
		if r.cfg.Strict {
			s.AdditionalProperties = false
		}
		return s
	}
	return &Schema{} // interfaces, and what JSON cannot carry
}

// fields adds the JSON members of struct t to s, promoting those of
// embedded structs; the first field of a name wins.
func (r *reflector) fields(t reflect.Type, s *Schema) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				r.fields(ft, s)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := s.Properties[name]; dup {
			continue
		}
		var fs *Schema
		if strings.Contains(","+opts+",", ",string,") {
			fs = &Schema{Type: "string"}
		} else {
			fs = r.schema(f.Type)
		}
		var required bool
		if r.cfg.Response {
			required = !strings.Contains(","+opts+",", ",omitempty,") && !strings.Contains(","+opts+",", ",omitzero,")
		} else {
			required = r.rules(fs, f.Type, f.Tag.Get(r.cfg.Validate))
		}
		s.Properties[name] = fs
		if required {
			s.Required = append(s.Required, name)
		}
	}
}

// rules narrows s, the schema of a value of type t, by the validator tag,
// and reports whether it says required.
func (r *reflector) rules(s *Schema, t reflect.Type, tag string) (required bool) {
	if tag == "" || tag == "-" {
		return false
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	here, items, dive := strings.Cut(tag, "dive")
	for _, rule := range strings.Split(here, ",") {
		if rule == "required" {
			required = true
			continue
		}
		narrow(s, t, rule)
	}
	if dive && s.Items != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		r.rules(s.Items, t.Elem(), strings.Trim(items, ","))
	}
	return required
}

// narrow applies one validator rule to s, the schema of a value of type t
// (pointers removed).
func narrow(s *Schema, t reflect.Type, rule string) {
	if rule == "" || strings.Contains(rule, "|") {
		return
	}
	name, arg, _ := strings.Cut(rule, "=")
	kind := kindOf(t)
	switch name {
	case "min", "gte":
		setBound(s, kind, arg, false, true)
	case "max", "lte":
		setBound(s, kind, arg, false, false)
	case "gt":
		setBound(s, kind, arg, true, true)
	case "lt":
		setBound(s, kind, arg, true, false)
	case "len":
		if kind == "number" {
			s.Const = number(arg, t)
			return
		}
		setBound(s, kind, arg, false, true)
		setBound(s, kind, arg, false, false)
	case "eq":
		if kind == "string" {
			s.Const = arg
		} else if kind == "number" {
			s.Const = number(arg, t)
		}
	case "oneof":
		var vals []any
		for _, v := range oneofValues(arg) {
			if kind == "number" {
				vals = append(vals, number(v, t))
			} else {
				vals = append(vals, v)
			}
		}
		s.Enum = vals
	default:
		if f, ok := formats[name]; ok && kind == "string" {
			s.Format = f
		}
	}
}

// formats maps validator tags to JSON Schema formats.
var formats = map[string]string{
	"email": "email", "url": "uri", "uri": "uri", "http_url": "uri",
	"uuid": "uuid", "uuid3": "uuid", "uuid4": "uuid", "uuid5": "uuid", "uuid_rfc4122": "uuid", "uuid4_rfc4122": "uuid",
	"hostname": "hostname", "hostname_rfc1123": "hostname", "fqdn": "hostname",
	"ipv4": "ipv4", "ipv6": "ipv6", "datetime": "date-time",
}

// kindOf names what min and max bound on t: "string" (length), "number"
// (value), "array" (items) or "object" (members).
func kindOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			return ""
		}
		return "array"
	case reflect.Map:
		return "object"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return "number"
	}
	return ""
}

// setBound sets the lower (lower) or upper bound arg on s; exclusive for
// gt and lt.
func setBound(s *Schema, kind, arg string, exclusive, lower bool) {
	if kind == "number" {
		v, err := strconv.ParseFloat(arg, 64)
		if err != nil {
			return
		}
		switch {
		case lower && exclusive:
			s.ExclusiveMinimum = &v
		case lower:
			s.Minimum = &v
		case exclusive:
			s.ExclusiveMaximum = &v
		default:
			s.Maximum = &v
		}
		return
	}
	n, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || n < 0 {
		return
	}
	if exclusive {
		if lower {
			n++
		} else if n--; n < 0 {
			return
		}
	}
	var lo, hi **int64
	switch kind {
	case "string":
		lo, hi = &s.MinLength, &s.MaxLength
	case "array":
		lo, hi = &s.MinItems, &s.MaxItems
	case "object":
		lo, hi = &s.MinProperties, &s.MaxProperties
	default:
		return
	}
	if lower {
		*lo = count(n)
	} else {
		*hi = count(n)
	}
}

// oneofValues splits a oneof argument as the validator does: by spaces,
// with 'single quotes' around a value that holds spaces.
func oneofValues(arg string) []string {
	var out []string
	for arg = strings.TrimSpace(arg); arg != ""; arg = strings.TrimSpace(arg) {
		if arg[0] == '\'' {
			if end := strings.IndexByte(arg[1:], '\''); end >= 0 {
				out = append(out, arg[1:end+1])
				arg = arg[end+2:]
				continue
			}
		}
		v, rest, _ := strings.Cut(arg, " ")
		out = append(out, v)
		arg = rest
	}
	return out
}

// number parses a rule argument as t's kind of number: an int64 for
// integers, else a float64; the argument itself when it does not parse.
func number(arg string, t reflect.Type) any {
	switch t.Kind() {
	case reflect.Float32, reflect.Float64:
		if f, err := strconv.ParseFloat(arg, 64); err == nil {
			return f
		}
	default:
		if n, err := strconv.ParseInt(arg, 10, 64); err == nil {
			return n
		}
	}
	return arg
}

func float(v float64) *float64 { return &v }
func count(n int64) *int64     { return &n }
