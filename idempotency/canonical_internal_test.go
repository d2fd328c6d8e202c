package idempotency

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// refCanonicalJSON is CanonicalJSON as it was before the canonicaliser
// checked the grammar itself.
func refCanonicalJSON(b []byte) ([]byte, bool) {
	var c refCanonicaliser
	out, ok := c.appendJSON(make([]byte, 0, len(b)), b)
	if !ok {
		return nil, false
	}
	return out, true
}

// canonicalSeeds are documents at the edges of the grammar.
var canonicalSeeds = []string{
	`{"a":1,"b":[1.0,2e3,"x"]}`, `[]`, `{}`, `"\u00e9"`, `-0.0e-0`, `{"a":{"b":{"c":null}}}`, `1e999999999999999999`,
	`[1,2`, "\xff", `{"A":1,"a":2.5,"S":"\ud800","k":"\u212a","\u212a":"x"}`, `"\ud800\udc00"`, `"\ud800\u0041"`,
	`"\ud800\`, `"\ud800\u00`, `"\u00`, `"\u00zz"`, `"\x"`, `"\`, `"`, `"a` + "\x01" + `"`, `"a` + "\x7f" + `"`,
	` 1 `, ``, ` `, `01`, `-`, `-0`, `1.`, `.5`, `1e`, `1e+`, `1E-5`, `+1`, `0x10`, `1.5e3x`, `[1,]`, `[,1]`, `{"a"}`,
	`{"a":}`, `{"a":1,}`, `{,"a":1}`, `{"a" 1}`, `{1:2}`, `[1 2]`, `[1]]`, `tru`, `true`, `truex`, `nul`, `null`,
	`false`, `fals`, `[true,false,null]`, "\t[ 1 ,\r\n2 ]\n", `1 2`, `{"a":1}{"b":2}`, `[` + "\u00e9" + `]`,
	strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth),
	strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
	strings.Repeat(`{"a":`, maxDepth) + "1" + strings.Repeat("}", maxDepth),
	strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1),
	strings.Repeat("[", maxDepth+1),
}

// TestCanonicalJSONReference checks the seeds against the reference.
func TestCanonicalJSONReference(t *testing.T) {
	for _, s := range canonicalSeeds {
		checkReference(t, []byte(s))
	}
}

// FuzzCanonicalJSONReference checks that CanonicalJSON, which validates as
// it parses, agrees with utf8.Valid and json.Valid and writes byte for
// byte what the canonicaliser wrote when it relied on them.
func FuzzCanonicalJSONReference(f *testing.F) {
	for _, s := range canonicalSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkReference)
}

func checkReference(t *testing.T, in []byte) {
	got, ok := CanonicalJSON(in)
	valid := utf8.Valid(in) && json.Valid(in)
	if ok != valid {
		t.Fatalf("CanonicalJSON(%.200q): ok=%v, want %v (utf8.Valid and json.Valid)", in, ok, valid)
	}
	want, wantOK := refCanonicalJSON(in)
	if ok != wantOK || !bytes.Equal(got, want) {
		t.Fatalf("CanonicalJSON(%.200q) = %.200q, %v; the reference gives %.200q, %v", in, got, ok, want, wantOK)
	}
	// Through the pooled canonicaliser of Fingerprint as well.
	fp := Fingerprint("POST", "/r", "", "application/json", in)
	if valid {
		if fp2 := Fingerprint("POST", "/r", "", "application/json", want); fp2 != fp {
			t.Fatalf("Fingerprint(%.200q) differs from its canonical form's", in)
		}
	}
}
