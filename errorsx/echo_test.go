package errorsx_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/clipia/apiguard/errorsx"
)

// TestEchoIsCut checks that client input echoed in a param or a message is
// cut to MaxEcho characters plus "…", on every row, whoever set it.
func TestEchoIsCut(t *testing.T) {
	huge := strings.Repeat("x", 512_000)
	cut := strings.Repeat("x", errorsx.MaxEcho) + "…"
	for _, newErr := range errorConstructors {
		e := newErr().WithParam(huge).WithMessage(huge + " is not a known field")
		t.Run(string(e.Code()), func(t *testing.T) {
			rec := renderErr(t, errorsx.HandlerConfig{}, e)
			if rec.Body.Len() > 1024 {
				t.Fatalf("got a body of %d bytes, want a small one", rec.Body.Len())
			}
			env, err := checkEnvelope(rec.Body.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if env.Param != cut {
				t.Errorf("got param %q, want %q", env.Param, cut)
			}
			if want := cut + " is not a known field"; env.Message != want {
				t.Errorf("got message %q, want %q", env.Message, want)
			}
			if len(e.Error()) > 1024 {
				t.Errorf("got Error() of %d bytes, want a small one", len(e.Error()))
			}
		})
	}
}

func TestEchoCutCases(t *testing.T) {
	x := func(n int) string { return strings.Repeat("x", n) }
	word := strings.Repeat("é", errorsx.MaxEcho)
	tests := []struct {
		name, in         string
		wantParam, wantM string
	}{
		{name: "short is kept", in: "prompt", wantParam: "prompt", wantM: "prompt"},
		{name: "exactly MaxEcho is kept", in: x(errorsx.MaxEcho), wantParam: x(errorsx.MaxEcho), wantM: x(errorsx.MaxEcho)},
		{name: "one more is cut", in: x(errorsx.MaxEcho + 1), wantParam: x(errorsx.MaxEcho) + "…", wantM: x(errorsx.MaxEcho) + "…"},
		{name: "characters, not bytes", in: word + "é", wantParam: word + "…", wantM: word + "…"},
		{name: "each long word of a message", in: "model \"" + x(100) + "\" does not exist, nor " + x(70),
			wantParam: "model \"" + x(errorsx.MaxEcho-7) + "…",
			wantM:     "model \"" + x(errorsx.MaxEcho-1) + "… does not exist, nor " + x(errorsx.MaxEcho) + "…"},
		{name: "a long message with spaces", in: strings.Repeat("ab ", 1000),
			wantParam: strings.Repeat("ab ", 21) + "a…",
			wantM:     strings.Repeat("ab ", 170) + "ab…"},
		{name: "invalid UTF-8 counts a character per byte", in: strings.Repeat("\xff", 100),
			wantParam: strings.Repeat("\xff", errorsx.MaxEcho) + "…", wantM: strings.Repeat("\xff", errorsx.MaxEcho) + "…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := errorsx.InvalidRequest().WithParam(tc.in).WithMessage(tc.in)
			if got := e.Param(); got != tc.wantParam {
				t.Errorf("got param %q, want %q", got, tc.wantParam)
			}
			if got := e.Message(); got != tc.wantM {
				t.Errorf("got message %q, want %q", got, tc.wantM)
			}
		})
	}
}

// TestEchoCutFromDecoderErrors checks the errors that From and
// FromUnmarshalTypeError build from a client's field path.
func TestEchoCutFromDecoderErrors(t *testing.T) {
	huge := strings.Repeat("k", 100_000)
	for name, e := range map[string]*errorsx.Error{
		"FromUnmarshalTypeError": errorsx.FromUnmarshalTypeError(&json.UnmarshalTypeError{
			Value: "string", Type: reflect.TypeFor[int](), Field: "input." + huge}),
		"FromStatus": errorsx.FromStatus(http.StatusBadRequest, huge, nil),
	} {
		t.Run(name, func(t *testing.T) {
			if n := utf8.RuneCountInString(e.Param()); n > errorsx.MaxEcho+1 {
				t.Errorf("got a param of %d characters, want at most %d", n, errorsx.MaxEcho+1)
			}
			if n := len(errorsx.AppendEnvelope(nil, e)); n > 512 {
				t.Errorf("got an envelope of %d bytes, want a small one", n)
			}
		})
	}
}

// FuzzEchoIsBounded: whatever the message and param, the rendered envelope
// is valid JSON, its param at most MaxEcho characters plus "…" and a prefix
// of the param given, each word of its message at most MaxEcho plus "…" and
// the message at most MaxMessage plus "…"; input within the bounds is kept
// as is.
func FuzzEchoIsBounded(f *testing.F) {
	f.Add("prompt is required", "prompt", uint16(1))
	f.Add("x", "y", uint16(5000))
	f.Add("a b\tc\u00a0d", "é😀\xff", uint16(300))
	f.Fuzz(func(t *testing.T, msg, param string, repeat uint16) {
		msg = strings.Repeat(msg, int(repeat%2048)+1)
		param = strings.Repeat(param, int(repeat%2048)+1)
		e := errorsx.InvalidRequest().WithMessage(msg).WithParam(param)
		b := errorsx.AppendEnvelope(nil, e)
		if !json.Valid(b) {
			t.Fatalf("invalid JSON: %q", b)
		}
		// 6 bytes per character at worst (\u00xx), for 64+1 and 512+1.
		if len(b) > 6*(errorsx.MaxEcho+errorsx.MaxMessage+2)+100 {
			t.Fatalf("got an envelope of %d bytes", len(b))
		}
		p := e.Param()
		if utf8.RuneCountInString(param) <= errorsx.MaxEcho {
			if p != param {
				t.Fatalf("got param %q, want %q kept", p, param)
			}
		} else if base, ok := strings.CutSuffix(p, "…"); !ok || !strings.HasPrefix(param, base) ||
			utf8.RuneCountInString(base) != errorsx.MaxEcho {
			t.Fatalf("got param %q for %d characters", p, utf8.RuneCountInString(param))
		}
		m := e.Message()
		if msg == "" {
			return // the row's default
		}
		if n := utf8.RuneCountInString(m); n > errorsx.MaxMessage+1 {
			t.Fatalf("got a message of %d characters", n)
		}
		long := false
		for w := range strings.FieldsFuncSeq(m, isEchoSpace) {
			if n := utf8.RuneCountInString(w); n > errorsx.MaxEcho+1 {
				t.Fatalf("got a word of %d characters", n)
			}
		}
		for w := range strings.FieldsFuncSeq(msg, isEchoSpace) {
			long = long || utf8.RuneCountInString(w) > errorsx.MaxEcho
		}
		if !long && utf8.RuneCountInString(msg) <= errorsx.MaxMessage && m != msg {
			t.Fatalf("got message %q, want %q kept", m, msg)
		}
	})
}

// isEchoSpace is the set of characters that separate a message's words.
func isEchoSpace(r rune) bool {
	return strings.ContainsRune(" \t\n\r\v\f\u0085\u00a0", r)
}
