package idempotency_test

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/clipia/apiguard/idempotency"
)

func TestCanonicalJSON(t *testing.T) {
	tests := []struct {
		name   string
		a, b   string
		wantEq bool
	}{
		{"key order", `{"a":1,"b":2}`, `{"b":2,"a":1}`, true},
		{"whitespace", `{"a":[1,2]}`, " {\n\t\"a\" : [ 1 , 2 ] }\r\n", true},
		{"string escapes", `"a/é"`, `"\u0061\/\u00e9"`, true},
		{"control character escapes", `"\n\t\u0001"`, `"\u000a\u0009\u0001"`, true},
		{"surrogate pair", `"😀"`, `"\ud83d\ude00"`, true},
		{"lone surrogate reads as U+FFFD", `"\ud800x"`, `"\ufffdx"`, true},
		{"escaped key", `{"\u0061":1,"b":2}`, `{"b":2,"a":1}`, true},
		{"nested", `{"x":{"b":[{"d":1,"c":2}],"a":null}}`, `{"x":{"a":null,"b":[{"c":2,"d":1}]}}`, true},
		{"keys of different case sort together", `{"B":1,"a":2,"c":3}`, `{"c":3,"a":2,"B":1}`, true},
		{"different value", `{"a":1}`, `{"a":2}`, false},
		{"1 vs 1.0", `1`, `1.0`, false},
		{"5 vs 5e0", `5`, `5e0`, false},
		{"10 vs 1e1", `10`, `1e1`, false},
		{"exponent case", `1e1`, `1E1`, false},
		{"-0 vs 0", `-0`, `0`, false},
		{"precision beyond float64", `0.10000000000000000001`, `0.1`, false},
		{"big integers differ", `9007199254740993`, `9007199254740992`, false},
		{"array order matters", `[1,2]`, `[2,1]`, false},
		{"string vs number", `{"a":"1"}`, `{"a":1}`, false},
		{"null vs missing", `{"a":null}`, `{}`, false},
		{"sign", `-1`, `1`, false},
		{"true vs false", `true`, `false`, false},
		// encoding/json matches keys case-insensitively, the last one
		// winning: these are {"a":2} and {"a":1} to a struct.
		{"case-variant keys in other order", `{"a":1,"A":2}`, `{"A":2,"a":1}`, false},
		{"Kelvin sign folds to k", `{"k":1,"\u212a":2}`, `{"\u212a":2,"k":1}`, false},
		// encoding/json merges a repeated object into a struct field.
		{"repeated key keeps every value", `{"a":{"x":1},"a":{"y":2}}`, `{"a":{"y":2}}`, false},
		{"repeated key order", `{"a":1,"a":2}`, `{"a":2,"a":1}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ca, okA := idempotency.CanonicalJSON([]byte(tc.a))
			cb, okB := idempotency.CanonicalJSON([]byte(tc.b))
			if !okA || !okB {
				t.Fatalf("CanonicalJSON: got ok %v %v, want both valid", okA, okB)
			}
			if gotEq := bytes.Equal(ca, cb); gotEq != tc.wantEq {
				t.Errorf("got equal=%v (%s vs %s), want %v", gotEq, ca, cb, tc.wantEq)
			}
		})
	}
}

func TestCanonicalJSONForm(t *testing.T) {
	tests := []struct{ in, want string }{
		{` { "b" : [ 1.50 , 2e0 , -0 ] , "a" : "\u00e9\"\\\/\b" , "B" : {} , "c" : [ ] } `,
			`{"a":"é\"\\/\u0008","b":[1.50,2e0,-0],"B":{},"c":[]}`},
		{`{"z":{"y":1,"x":[{"w":true,"v":null}]},"a":"\ud83d\ude00\udc00"}`,
			`{"a":"😀�","z":{"x":[{"v":null,"w":true}],"y":1}}`},
		{`"\u2028\u007f"`, "\"\u2028\u007f\""},
	}
	for _, tc := range tests {
		got, ok := idempotency.CanonicalJSON([]byte(tc.in))
		if !ok || string(got) != tc.want {
			t.Errorf("CanonicalJSON(%s) = %s, %v; want %s", tc.in, got, ok, tc.want)
		}
	}
}

func TestCanonicalJSONRejects(t *testing.T) {
	for _, in := range []string{``, ` `, `{`, `{"a":1} {"b":2}`, `{"a":1}x`, `[1,]`, `01`, "\"\xff\"", `NaN`, "\xef\xbb\xbf{}", `"\x"`} {
		if c, ok := idempotency.CanonicalJSON([]byte(in)); ok {
			t.Errorf("CanonicalJSON(%q): got %q, want not JSON", in, c)
		}
	}
}

func TestFingerprint(t *testing.T) {
	const body = `{"x":1,"y":[true]}`
	fp := func(q, ct, b string) string {
		return idempotency.Fingerprint("POST", "/v1/generations", q, ct, []byte(b))
	}
	want := fp("a=1&b=2", "application/json", body)
	tests := []struct {
		name   string
		got    string
		wantEq bool
	}{
		{"same", fp("a=1&b=2", "application/json", body), true},
		{"reordered JSON", fp("a=1&b=2", "application/json", `{ "y": [ true ], "x": 1 }`), true},
		{"reordered query", fp("b=2&a=1", "application/json", body), true},
		{"charset=utf-8", fp("a=1&b=2", "application/json; charset=utf-8", body), true},
		{"charset=UTF-8", fp("a=1&b=2", "application/json; charset=UTF-8", body), true},
		{"charset utf8, other spelling", fp("a=1&b=2", `Application/JSON;CHARSET="Utf8"`, body), true},
		{"spaces around", fp("a=1&b=2", " application/json ", body), true},
		{"other method", idempotency.Fingerprint("PUT", "/v1/generations", "a=1&b=2", "application/json", []byte(body)), false},
		{"other route", idempotency.Fingerprint("POST", "/v1/other", "a=1&b=2", "application/json", []byte(body)), false},
		{"other query", fp("a=1&b=3", "application/json", body), false},
		{"repeated values reordered", fp("a=1&b=2&a=0", "application/json", body), false},
		{"other body", fp("a=1&b=2", "application/json", `{"x":2,"y":[true]}`), false},
		{"number spelled 1.0", fp("a=1&b=2", "application/json", `{"x":1.0,"y":[true]}`), false},
		{"other charset", fp("a=1&b=2", "application/json; charset=iso-8859-1", body), false},
		{"other parameter", fp("a=1&b=2", "application/json; profile=x", body), false},
		{"no Content-Type", fp("a=1&b=2", "", body), false},
		{"+json type", fp("a=1&b=2", "application/merge-patch+json", body), false},
		{"text type", fp("a=1&b=2", "text/plain", body), false},
		{"unparsable Content-Type", fp("a=1&b=2", "application/json; charset", body), false},
		{"empty parameter list", fp("a=1&b=2", "application/json;", body), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if gotEq := tc.got == want; gotEq != tc.wantEq {
				t.Errorf("got equal=%v, want %v", gotEq, tc.wantEq)
			}
		})
	}
	if len(want) != 64 {
		t.Errorf("fingerprint length: got %d, want 64 hex digits", len(want))
	}
}

func TestFingerprintMediaType(t *testing.T) {
	const js = `{"a":1,"b":2}`
	tests := []struct {
		name         string
		ctA, ctB     string // Content-Type values
		bodyA, bodyB string
		wantEq       bool
	}{
		{"parameters in any order", "application/vnd.x+json; b=2; a=1", "application/vnd.x+json;a=1;b=2", js, js, true},
		{"quoted parameter", `text/plain; charset="utf-8"`, "text/plain; charset=utf-8", js, js, true},
		{"charset value case", "text/plain; charset=UTF-8", "text/plain; charset=utf-8", js, js, true},
		{"type case", "TEXT/Plain", "text/plain", js, js, true},
		{"+json types by meaning", "application/vnd.x+json", "application/vnd.x+json", js, `{ "b":2, "a":1 }`, true},
		{"text charset is not implied", "text/plain", "text/plain; charset=utf-8", js, js, false},
		{"other parameter value case", "multipart/form-data; boundary=AB", "multipart/form-data; boundary=ab", js, js, false},
		{"two unparsable values", "application/json; charset", "application/json; charset=", js, js, false},
		{"unparsable vs none", "; ", "", js, js, false},
		{"text compared by bytes", "text/plain", "text/plain", js, `{"b":2,"a":1}`, false},
		{"no Content-Type compared by bytes", "", "", js, `{"b":2,"a":1}`, false},
		{"invalid JSON compared by bytes", "application/json", "application/json", `{"a":1,}`, `{"a":1 ,}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := idempotency.Fingerprint("POST", "/r", "", tc.ctA, []byte(tc.bodyA))
			b := idempotency.Fingerprint("POST", "/r", "", tc.ctB, []byte(tc.bodyB))
			if gotEq := a == b; gotEq != tc.wantEq {
				t.Errorf("%q %s vs %q %s: got equal=%v, want %v", tc.ctA, tc.bodyA, tc.ctB, tc.bodyB, gotEq, tc.wantEq)
			}
		})
	}
}

// TestFingerprintPlainMediaType checks that a media type without parameters
// fingerprints as the same type with an empty parameter list does, exactly
// when it is valid.
func TestFingerprintPlainMediaType(t *testing.T) {
	for _, ct := range []string{"text/plain", "a/b", "application/vnd.x+json", "image/svg+xml", "x/y/z", "/x", "x/", "/",
		"text /plain", "text/pla in", "text/plaIn", "te(t/plain", "text/plain\x00", "text/pl\u00e9in", "text", "*/*", "a.b/c-d_e!"} {
		_, _, err := mime.ParseMediaType(ct)
		a := idempotency.Fingerprint("POST", "/r", "", ct, []byte(`{}`))
		b := idempotency.Fingerprint("POST", "/r", "", ct+";", []byte(`{}`))
		if gotEq := a == b; gotEq != (err == nil) {
			t.Errorf("%q and %q: got equal=%v, want %v (ParseMediaType error %v)", ct, ct+";", gotEq, err == nil, err)
		}
	}
}

// decodeTarget is a struct a binder might decode a request into.
type decodeTarget struct {
	A int
	B *float64
	S string
	K string `json:"k"`
	M map[string]any
	N struct{ X, Y int }
	P *struct{ X, Y int }
	L []any
	I any
}

// decodeAll decodes b as encoding/json would for a binder, into a struct and
// into an interface value, with and without UseNumber.
func decodeAll(b []byte) (out [3]any, errs [3]bool) {
	var t decodeTarget
	errs[0] = json.Unmarshal(b, &t) != nil
	out[0] = t
	var v any
	errs[1] = json.Unmarshal(b, &v) != nil
	out[1] = v
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var n any
	errs[2] = dec.Decode(&n) != nil
	out[2] = n
	return out, errs
}

func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":[1.0,2e3,"x"]}`, `[]`, `"\u00e9"`, `-0.0e-0`, `{"a":{"b":{"c":null}}}`, `1e999999999999999999`, `[1,2`, "\xff",
		`{"A":1,"a":2.5,"S":"\ud800","k":"\u212a","\u212a":"x"}`, `{"N":{"X":1},"N":{"Y":2},"P":{"X":1},"p":{"Y":2}}`,
		`{"M":{"z":1,"Z":2},"L":[{"b":1,"a":2}],"I":5.0,"B":1e1}`, `{"s":"\"\\\/\b\f\n\r\t\u0000\u001f"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, ok := idempotency.CanonicalJSON(in)
		if valid := json.Valid(in) && utf8.Valid(in); valid != ok {
			t.Fatalf("CanonicalJSON(%q): ok=%v, want %v", in, ok, valid)
		}
		if !ok {
			return
		}
		// Stable: the canonical form is JSON, its own canonical form, and
		// fingerprints as the original does, also when re-serialised.
		c2, ok2 := idempotency.CanonicalJSON(c)
		if !ok2 || !bytes.Equal(c, c2) {
			t.Fatalf("CanonicalJSON(%q) = %q, whose canonical form is %q, %v", in, c, c2, ok2)
		}
		fp := func(b []byte) string { return idempotency.Fingerprint("POST", "/r", "", "application/json", b) }
		want := fp(in)
		var indented bytes.Buffer
		if err := json.Indent(&indented, c, " ", "\t"); err != nil {
			t.Fatalf("json.Indent(%q): %v", c, err)
		}
		if fp(c) != want || fp(indented.Bytes()) != want {
			t.Fatalf("Fingerprint of %q differs from its canonical form %q or its re-indenting", in, c)
		}
		// Agreement with the decoder: what the fingerprint covers (the
		// canonical form) decodes exactly as the request does, so two
		// requests that share a fingerprint are read the same way.
		got, gotErr := decodeAll(c)
		orig, origErr := decodeAll(in)
		if gotErr != origErr {
			t.Fatalf("decoding %q: errors %v, its canonical form %q: %v", in, origErr, c, gotErr)
		}
		for i := range got {
			if !origErr[i] && !reflect.DeepEqual(got[i], orig[i]) {
				t.Fatalf("decoder %d reads %q as %#v, its canonical form %q as %#v", i, in, orig[i], c, got[i])
			}
		}
	})
}

func TestResponseBinaryRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		r    idempotency.Response
	}{
		{"empty", idempotency.Response{Status: 204}},
		{"headers and body", idempotency.Response{Status: 201,
			Header: http.Header{"Content-Type": {"application/json"}, "X-Multi": {"a", "", "c"}},
			Body:   []byte("{\"id\":1}\x00\xff")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.r.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var got idempotency.Response
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.r.Status || !bytes.Equal(got.Body, tc.r.Body) || len(got.Header) != len(tc.r.Header) {
				t.Fatalf("got %+v, want %+v", got, tc.r)
			}
			for k, v := range tc.r.Header {
				if g := got.Header[k]; len(g) != len(v) || (len(v) > 0 && g[len(g)-1] != v[len(v)-1]) {
					t.Errorf("header %s: got %q, want %q", k, g, v)
				}
			}
		})
	}
	if _, err := (idempotency.Response{Status: 70000}).MarshalBinary(); err == nil {
		t.Error("MarshalBinary with status 70000: got nil error")
	}
}

func FuzzResponseUnmarshal(f *testing.F) {
	seed, _ := idempotency.Response{Status: 200, Header: http.Header{"A": {"b"}}, Body: []byte("x")}.MarshalBinary()
	f.Add(seed)
	f.Add([]byte{1, 0, 200, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		var r idempotency.Response
		if r.UnmarshalBinary(in) != nil {
			return
		}
		out, err := r.MarshalBinary()
		if err != nil {
			t.Fatalf("re-marshal: %v", err)
		}
		var r2 idempotency.Response
		if err := r2.UnmarshalBinary(out); err != nil || r2.Status != r.Status || !bytes.Equal(r2.Body, r.Body) {
			t.Fatalf("round trip: got %+v, %v; want %+v", r2, err, r)
		}
	})
}

func BenchmarkFingerprint(b *testing.B) {
	bodies := []struct{ name, ct, body string }{
		{"json", "application/json", `{"model":"clipia-fast","prompt":"a cat on a skateboard","duration":5,"resolution":"720p"}`},
		{"json-nested", "application/json; charset=utf-8", `{"model":"clipia-fast","prompt":"a cat \u00e9 on a skateboard","duration":5,"resolution":"720p","tags":["a","b",1.5,{"z":null,"y":[true,false]}],"meta":{"user":"u_123","trace":{"id":"abc","n":12345678901234567890}}}`},
		{"bytes", "text/plain", `a cat on a skateboard`},
	}
	for _, bb := range bodies {
		body := []byte(bb.body)
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				idempotency.Fingerprint(http.MethodPost, "/v1/generations", "a=1&b=2", bb.ct, body)
			}
		})
	}
}
