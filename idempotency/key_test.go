package idempotency_test

import (
	"strings"
	"testing"

	"github.com/clipia/apiguard/idempotency"
)

func TestParseKey(t *testing.T) {
	max := strings.Repeat("a", 255)
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{"bare uuid", "8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324", false},
		{"quoted uuid", `"8e03978e-40d5-43e8-bc93-6894a57f9324"`, "8e03978e-40d5-43e8-bc93-6894a57f9324", false},
		{"surrounding spaces", "  abc\t", "abc", false},
		{"inner space", "a b", "a b", false},
		{"all printable", " !#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~", "!#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~", false},
		{"quoted escapes", `"a\"b\\c"`, `a"b\c`, false},
		{"quoted with spaces inside", `" a "`, " a ", false},
		{"255 bare", max, max, false},
		{"255 quoted", `"` + max + `"`, max, false},
		{"bare with a quote inside", `ab"c`, `ab"c`, false},
		{"empty", "", "", true},
		{"only spaces", "   ", "", true},
		{"256 bare", max + "a", "", true},
		{"256 quoted", `"` + max + `a"`, "", true},
		{"tab inside", "a\tb", "", true},
		{"DEL", "a\x7fb", "", true},
		{"UTF-8", "clé", "", true},
		{"empty quoted", `""`, "", true},
		{"unterminated", `"abc`, "", true},
		{"text after the closing quote", `"abc"d`, "", true},
		{"sf parameters", `"abc";p=1`, "", true},
		{"unknown escape", `"a\nb"`, "", true},
		{"trailing backslash", `"abc\`, "", true},
		{"non-ASCII quoted", `"é"`, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := idempotency.ParseKey(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseKey(%q): got error %v, want error %v", tc.in, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("ParseKey(%q): got %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// sfString serialises s as an RFC 8941 string.
func sfString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"abc", `"abc"`, `"a\"b"`, "", `"`, `\`, "a\x00", strings.Repeat("x", 256), `"abc";a=1`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		k, err := idempotency.ParseKey(in)
		if err != nil {
			if k != "" {
				t.Fatalf("ParseKey(%q): got key %q with error %v", in, k, err)
			}
			return
		}
		if len(k) < 1 || len(k) > idempotency.MaxKeyLen {
			t.Fatalf("ParseKey(%q): got %d bytes, want 1–255", in, len(k))
		}
		for i := 0; i < len(k); i++ {
			if k[i] < 0x20 || k[i] > 0x7e {
				t.Fatalf("ParseKey(%q): got non-printable byte %#x", in, k[i])
			}
		}
		// The quoted form of any key names the same key.
		if again, err := idempotency.ParseKey(sfString(k)); err != nil || again != k {
			t.Fatalf("ParseKey(sf(%q)) = %q, %v; want the same key", k, again, err)
		}
	})
}

func TestRecordKey(t *testing.T) {
	tests := []struct {
		name string
		a, b [4]string
	}{
		{"separator in the scope", [4]string{"a|POST", "/x", "k", ""}, [4]string{"a", "POST|/x", "k", ""}},
		{"separator in the key", [4]string{"s", "POST", "/x|y", "k"}, [4]string{"s", "POST", "/x", "y|k"}},
		{"escape lookalike", [4]string{"s%7C", "POST", "/x", "k"}, [4]string{"s|", "POST", "/x", "k"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ka := idempotency.RecordKey(tc.a[0], tc.a[1], tc.a[2], tc.a[3])
			kb := idempotency.RecordKey(tc.b[0], tc.b[1], tc.b[2], tc.b[3])
			if ka == kb {
				t.Fatalf("got the same record key %q for %q and %q", ka, tc.a, tc.b)
			}
		})
	}
	if got, want := idempotency.RecordKey("tenant:acme", "POST", "/v1/generations", "k1"), "tenant:acme|POST|/v1/generations|k1"; got != want {
		t.Errorf("RecordKey: got %q, want %q", got, want)
	}
}
