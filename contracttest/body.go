package contracttest

import (
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strings"
)

// minimal returns a small value that s accepts: for an object its required
// properties only, each minimal; an example, const, enum or default when
// the schema gives one; for a string minLength letters (a value of its
// format when it names one); for a number its lower bound (or 1); false; an
// array of minItems elements. It reports false when s says too little (an
// external $ref, no type).
func (d *document) minimal(s *schema, depth int) (any, bool) {
	s = d.flatten(s)
	if s == nil || depth > maxRefs {
		return nil, false
	}
	for _, raw := range append([]json.RawMessage{s.Const, s.Example}, s.Examples...) {
		if v, ok := decodeRaw(raw); ok {
			return v, true
		}
	}
	if len(s.Enum) > 0 {
		if v, ok := decodeRaw(s.Enum[0]); ok {
			return v, true
		}
	}
	if v, ok := decodeRaw(s.Default); ok {
		return v, true
	}
	typ := s.Type.main()
	if typ == "" && len(s.Properties) > 0 {
		typ = "object"
	}
	switch typ {
	case "object":
		out := map[string]any{}
		for _, name := range s.Required {
			v, ok := d.minimal(s.Properties[name], depth+1)
			if !ok {
				return nil, false
			}
			out[name] = v
		}
		return out, true
	case "string":
		return minimalString(s), true
	case "integer", "number":
		return minimalNumber(s, typ == "integer"), true
	case "boolean":
		return false, true
	case "array":
		n := 0
		if s.MinItems != nil {
			n = *s.MinItems
		}
		out := make([]any, 0, n)
		for range n {
			v, ok := d.minimal(s.Items, depth+1)
			if !ok {
				return nil, false
			}
			out = append(out, v)
		}
		return out, true
	case "null":
		return nil, true
	}
	return nil, false
}

func decodeRaw(raw json.RawMessage) (any, bool) {
	if len(raw) == 0 {
		return nil, false
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil, false
	}
	return v, true
}

// formats are values of the common string formats.
var formats = map[string]string{
	"email":     "user@example.com",
	"uuid":      "123e4567-e89b-42d3-a456-426614174000",
	"uri":       "https://example.com/",
	"url":       "https://example.com/",
	"date-time": "2026-01-02T03:04:05Z",
	"date":      "2026-01-02",
	"time":      "03:04:05Z",
	"hostname":  "example.com",
	"ipv4":      "192.0.2.1",
	"ipv6":      "2001:db8::1",
}

func minimalString(s *schema) string {
	if v, ok := formats[s.Format]; ok {
		return v
	}
	n := 1
	if s.MinLength != nil && *s.MinLength > n {
		n = *s.MinLength
	}
	if s.MaxLength != nil && *s.MaxLength < n {
		n = *s.MaxLength
	}
	return strings.Repeat("a", n)
}

func minimalNumber(s *schema, integer bool) float64 {
	v := 1.0
	switch {
	case s.Minimum != nil:
		v = *s.Minimum
	case s.ExclusiveMinimum != nil:
		v = *s.ExclusiveMinimum + 1
	}
	if s.Maximum != nil && *s.Maximum < v {
		v = *s.Maximum
	}
	if s.ExclusiveMaximum != nil && *s.ExclusiveMaximum <= v {
		v = *s.ExclusiveMaximum - 1
	}
	if integer {
		v = math.Ceil(v)
	}
	return v
}

// illTyped returns a JSON value of another type than s's.
func illTyped(s *schema) any {
	switch s.Type.main() {
	case "string":
		return 12345
	case "integer", "number", "boolean", "object", "array":
		return "contracttest"
	}
	return nil
}

// freeText reports whether s is a string any other string of its length
// bounds would do for: no enum, const, format or pattern.
func freeText(s *schema) bool {
	return s != nil && s.Type.main() == "string" && len(s.Enum) == 0 && len(s.Const) == 0 &&
		s.Format == "" && s.Pattern == ""
}

// otherBody returns body with one field changed to another valid value:
// a free-text string field (one with length bounds first) gets one more
// letter, or an integer field one more unit within its bounds. It returns
// nil when no field can be changed.
func (d *document) otherBody(body map[string]any, s *schema) map[string]any {
	s = d.flatten(s)
	names := slices.Sorted(maps.Keys(body))
	pick := ""
	// With a schema: a bounded free-text field, then any free-text field.
	if s != nil {
		for _, pass := range []bool{true, false} {
			for _, n := range names {
				p := d.schema(s.Properties[n])
				str, ok := body[n].(string)
				if !ok || !freeText(p) {
					continue
				}
				if p.MaxLength != nil && len(str) >= *p.MaxLength {
					continue
				}
				if pass && p.MinLength == nil && p.MaxLength == nil {
					continue
				}
				pick = n
				break
			}
			if pick != "" {
				break
			}
		}
	} else {
		for _, n := range names {
			if _, ok := body[n].(string); ok {
				pick = n
				break
			}
		}
	}
	out := maps.Clone(body)
	if pick != "" {
		out[pick] = body[pick].(string) + "b"
		return out
	}
	if s == nil {
		return nil
	}
	for _, n := range names {
		p := d.schema(s.Properties[n])
		f, ok := body[n].(float64)
		if !ok || p == nil || p.Type.main() != "integer" {
			continue
		}
		if p.Maximum != nil && f+1 > *p.Maximum {
			continue
		}
		out[n] = f + 1
		return out
	}
	return nil
}
