package idempotency_test

import (
	"bytes"
	"encoding/json"
	"net/http"
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
		{"1 vs 1.0 vs 1e0", `[1,1,1,1]`, `[1.0,1e0,10e-1,0.1E1]`, true},
		{"trailing zeros", `100`, `1e2`, true},
		{"-0 is 0", `[0,-0,0.0,-0e5]`, `[0,0,0,0]`, true},
		{"string escapes", `"a/é"`, `"\u0061\/\u00e9"`, true},
		{"nested", `{"x":{"b":[{"d":1,"c":2}],"a":null}}`, `{"x":{"a":null,"b":[{"c":2,"d":1.0}]}}`, true},
		{"duplicate key: the last wins", `{"a":1,"a":2}`, `{"a":2}`, true},
		{"big numbers exactly", `12345678901234567890123`, `1.2345678901234567890123e22`, true},
		{"different value", `{"a":1}`, `{"a":2}`, false},
		{"precision beyond float64", `0.10000000000000000001`, `0.1`, false},
		{"big integers differ", `9007199254740993`, `9007199254740992`, false},
		{"array order matters", `[1,2]`, `[2,1]`, false},
		{"string vs number", `{"a":"1"}`, `{"a":1}`, false},
		{"null vs missing", `{"a":null}`, `{}`, false},
		{"sign", `-1`, `1`, false},
		{"true vs false", `true`, `false`, false},
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

func TestCanonicalJSONRejects(t *testing.T) {
	for _, in := range []string{``, `{`, `{"a":1} {"b":2}`, `{"a":1}x`, `[1,]`, `01`, "\"\xff\"", `NaN`} {
		if c, ok := idempotency.CanonicalJSON([]byte(in)); ok {
			t.Errorf("CanonicalJSON(%q): got %q, want not JSON", in, c)
		}
	}
}

func TestFingerprint(t *testing.T) {
	base := func() (string, string, string, string, []byte) {
		return http.MethodPost, "/v1/generations", "a=1&b=2", "application/json", []byte(`{"x":1,"y":[true]}`)
	}
	fp := func(m, r, q, ct string, b []byte) string { return idempotency.Fingerprint(m, r, q, ct, b) }
	want := fp(base())
	tests := []struct {
		name   string
		got    string
		wantEq bool
	}{
		{"same", fp(base()), true},
		{"reordered JSON", fp("POST", "/v1/generations", "a=1&b=2", "application/json", []byte(`{"y":[true],"x":1.0}`)), true},
		{"reordered query", fp("POST", "/v1/generations", "b=2&a=1", "application/json", []byte(`{"x":1,"y":[true]}`)), true},
		{"JSON with charset", fp("POST", "/v1/generations", "a=1&b=2", "application/json; charset=utf-8", []byte(`{"x":1,"y":[true]}`)), true},
		{"no content type, JSON body", fp("POST", "/v1/generations", "a=1&b=2", "", []byte(`{"x":1,"y":[true]}`)), true},
		{"+json type", fp("POST", "/v1/generations", "a=1&b=2", "application/merge-patch+json", []byte(`{"x":1,"y":[true]}`)), true},
		{"other method", fp("PUT", "/v1/generations", "a=1&b=2", "application/json", []byte(`{"x":1,"y":[true]}`)), false},
		{"other route", fp("POST", "/v1/other", "a=1&b=2", "application/json", []byte(`{"x":1,"y":[true]}`)), false},
		{"other query", fp("POST", "/v1/generations", "a=1&b=3", "application/json", []byte(`{"x":1,"y":[true]}`)), false},
		{"repeated values reordered", fp("POST", "/v1/generations", "a=1&b=2&a=0", "application/json", []byte(`{"x":1,"y":[true]}`)), false},
		{"other body", fp("POST", "/v1/generations", "a=1&b=2", "application/json", []byte(`{"x":2,"y":[true]}`)), false},
		{"text body compared by bytes", fp("POST", "/v1/generations", "a=1&b=2", "text/plain", []byte(`{"y":[true],"x":1}`)), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if gotEq := tc.got == want; gotEq != tc.wantEq {
				t.Errorf("got equal=%v, want %v", gotEq, tc.wantEq)
			}
		})
	}
	textA := fp("POST", "/r", "", "text/plain", []byte("a  b"))
	textB := fp("POST", "/r", "", "text/plain", []byte("a b"))
	if textA == textB {
		t.Error("non-JSON bodies that differ by whitespace: got the same fingerprint")
	}
	if len(want) != 64 {
		t.Errorf("fingerprint length: got %d, want 64 hex digits", len(want))
	}
}

// reformat re-serialises JSON with different whitespace and key order, by
// decoding into interface values with UseNumber (numbers keep their text).
func reformat(b []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil, false
	}
	out, err := json.MarshalIndent(v, "", "   ")
	return out, err == nil
}

func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":[1.0,2e3,"x"]}`, `[]`, `"\u00e9"`, `-0.0e-0`, `{"a":{"b":{"c":null}}}`, `1e999999999999999999`, `[1,2`, "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, ok := idempotency.CanonicalJSON(in)
		valid := json.Valid(in) && utf8.Valid(in)
		if valid && !ok {
			t.Fatalf("CanonicalJSON(%q): rejected valid JSON", in)
		}
		if !ok {
			return
		}
		if !json.Valid(in) {
			t.Fatalf("CanonicalJSON(%q): accepted invalid JSON as %q", in, c)
		}
		// Same meaning, other spelling: the same canonical form.
		if r, ok := reformat(in); ok {
			c2, ok2 := idempotency.CanonicalJSON(r)
			if !ok2 || !bytes.Equal(c, c2) {
				t.Fatalf("reformatted %q as %q: canonical %q vs %q", in, r, c, c2)
			}
			fa := idempotency.Fingerprint("POST", "/r", "", "application/json", in)
			fb := idempotency.Fingerprint("POST", "/r", "", "", r)
			if fa != fb {
				t.Fatalf("Fingerprint of %q and its reformatting %q differ", in, r)
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
