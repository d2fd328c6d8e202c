package contracttest

import (
	"encoding/json"
	"testing"
)

// minimal derives the smallest valid body from a schema: required
// properties only, through $ref, allOf and nullable types, each the least
// value its keywords allow.
func TestMinimal(t *testing.T) {
	d, err := parseDocument([]byte(`{
	  "openapi": "3.1.0",
	  "paths": {"/x": {}},
	  "components": {"schemas": {
	    "Base": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string", "format": "uuid"}}},
	    "Req": {"allOf": [{"$ref": "#/components/schemas/Base"}, {
	      "type": "object",
	      "required": ["name", "size", "kind", "tags", "ok", "ratio", "note", "when", "at"],
	      "properties": {
	        "name": {"type": "string", "minLength": 3, "maxLength": 10},
	        "size": {"type": "integer", "minimum": 5, "maximum": 9},
	        "kind": {"type": "string", "enum": ["b", "c"]},
	        "tags": {"type": "array", "minItems": 2, "items": {"type": "string"}},
	        "ok": {"type": "boolean"},
	        "ratio": {"type": ["number", "null"], "exclusiveMinimum": 0.5},
	        "note": {"type": "string", "examples": ["hello"]},
	        "when": {"type": "string", "format": "date-time"},
	        "at": {"type": "integer", "default": 7},
	        "optional": {"type": "string"}
	      }
	    }]}
	  }}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	v, ok := d.minimal(&schema{Ref: "#/components/schemas/Req"}, 0)
	if !ok {
		t.Fatal("got no value")
	}
	got, _ := json.Marshal(v)
	want := `{"at":7,"id":"123e4567-e89b-42d3-a456-426614174000","kind":"b","name":"aaa","note":"hello","ok":false,"ratio":1.5,"size":5,"tags":["a","a"],"when":"2026-01-02T03:04:05Z"}`
	if string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if _, ok := d.minimal(&schema{Ref: "other.json#/Req"}, 0); ok {
		t.Error("an external $ref: got a value, want none")
	}

	// otherBody changes a bounded free-text field, never an enum or a format.
	other := d.otherBody(v.(map[string]any), &schema{Ref: "#/components/schemas/Req"})
	if other["name"] != "aaab" || other["kind"] != "b" || other["note"] != "hello" {
		t.Errorf("otherBody: got %v, want name changed to aaab, the rest unchanged", other)
	}
}
