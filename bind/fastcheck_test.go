package bind

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-playground/validator/v10"
)

// fcInner is a nested struct the validator walks without a tag.
type fcInner struct {
	Name string `json:"name" validate:"required,max=5"`
	N    *int   `json:"n" validate:"omitempty,gte=-3,lt=10"`
}

// FcEmbedded is promoted into fcAll.
type FcEmbedded struct {
	Code string `json:"code" validate:"omitempty,len=2"`
}

// fcAll has every tag and kind fastCheck compiles.
type fcAll struct {
	FcEmbedded
	S1   string    `validate:"required"`
	S2   string    `validate:"omitempty,min=2,max=4"`
	S3   string    `validate:"len=3"`
	S4   string    `validate:"omitempty,oneof=480p 720p 1080p 4k"`
	S5   *string   `validate:"required,min=1"`
	S6   *string   `validate:"omitempty,gt=1,lt=4"`
	I1   int       `validate:"required,min=1"`
	I2   int8      `validate:"min=-5,max=5"`
	I3   *int64    `validate:"omitempty,oneof=1 2 3"`
	I4   int32     `validate:"gt=0x10"`
	U1   uint      `validate:"omitempty,max=7"`
	U2   *uint16   `validate:"required,lte=300"`
	U3   uint8     `validate:"oneof=0 7"`
	F1   float64   `validate:"gte=0.5,lte=2.5"`
	F2   *float32  `validate:"omitempty,gt=0.1"`
	F3   float64   `validate:"required"`
	B1   bool      `validate:"required"`
	B2   *bool     `validate:"required"`
	In   fcInner   `json:"in"`
	InP  *fcInner  `json:"in_p"`
	T    time.Time // untagged, not walked
	X    []fcInner // untagged slice: not walked
	m    string    `validate:"required"` // unexported: skipped
	Skip string    `validate:"-"`
}

// picker draws values from a byte string (a fuzz input), then from a
// random source once it is spent.
type picker struct {
	b   []byte
	rnd *rand.Rand
}

func (p *picker) n(max int) int {
	if len(p.b) > 0 {
		v := int(p.b[0])
		p.b = p.b[1:]
		return v % max
	}
	if p.rnd == nil {
		return 0
	}
	return p.rnd.IntN(max)
}

func (p *picker) str() string {
	return [...]string{"", "a", "ab", "abc", "abcd", "abcde", "abcdef", "日本", "日本語", "é", "720p", "4k", "8k", "1080p", "  "}[p.n(15)]
}

func (p *picker) strp() *string {
	if p.n(4) == 0 {
		return nil
	}
	s := p.str()
	return &s
}

func (p *picker) int() int64 {
	return [...]int64{0, 1, 2, 3, -1, -3, -4, -5, -6, 5, 6, 7, 9, 10, 16, 17, 300, 301, math.MaxInt64, math.MinInt64}[p.n(20)]
}

func (p *picker) float() float64 {
	return [...]float64{0, math.Copysign(0, -1), 0.1, 0.10000001, 0.5, 0.4999, 1, 2.5, 2.5000001, 3, -1, math.NaN(), math.Inf(1)}[p.n(13)]
}

func (p *picker) inner() fcInner {
	in := fcInner{Name: p.str()}
	if p.n(3) > 0 {
		v := int(p.int())
		in.N = &v
	}
	return in
}

// value returns a valid fcAll with some fields, each with a chance of one
// in five, drawn at random: a mix of valid and invalid values, every field
// at fault alone and together.
func (p *picker) value() *fcAll {
	s, u, tr := "x", uint16(3), true
	v := &fcAll{S1: "a", S3: "abc", S5: &s, I1: 1, I4: 17, U2: &u, F1: 1, F3: 1, B1: true, B2: &tr,
		In: fcInner{Name: "n"}, FcEmbedded: FcEmbedded{Code: "ab"}}
	draw := func() bool { return p.n(5) == 1 } // never on a spent input
	for _, set := range []func(){
		func() { v.S1 = p.str() }, func() { v.S2 = p.str() }, func() { v.S3 = p.str() },
		func() { v.S4 = p.str() }, func() { v.S5 = p.strp() }, func() { v.S6 = p.strp() },
		func() { v.I1 = int(p.int()) }, func() { v.I2 = int8(p.int()) }, func() { v.I4 = int32(p.int()) },
		func() { v.U1 = uint(p.int()) }, func() { v.U3 = uint8(p.int()) },
		func() { v.F1 = p.float() }, func() { v.F3 = p.float() }, func() { v.B1 = p.n(2) == 0 },
		func() { v.In = p.inner() }, func() { v.m = p.str() }, func() { v.Skip = p.str() },
		func() { v.Code = p.str() },
		func() {
			if i := p.int(); p.n(3) > 0 {
				v.I3 = &i
			}
		},
		func() {
			if u := uint16(p.int()); p.n(3) > 0 {
				v.U2 = &u
			} else {
				v.U2 = nil
			}
		},
		func() {
			if f := float32(p.float()); p.n(3) > 0 {
				v.F2 = &f
			}
		},
		func() {
			if b := p.n(2) == 0; p.n(3) > 0 {
				v.B2 = &b
			} else {
				v.B2 = nil
			}
		},
		func() {
			if in := p.inner(); p.n(2) > 0 {
				v.InP = &in
			}
		},
		func() { v.X = []fcInner{{}} },
	} {
		if draw() {
			set()
		}
	}
	return v
}

// agree checks that fastCheck and the validator decide v alike.
func agree(t *testing.T, fc *fastCheck, v *fcAll) bool {
	t.Helper()
	fast := fc.valid(reflect.ValueOf(v).Elem())
	err := defaultValidator().Struct(v)
	if fast != (err == nil) {
		t.Fatalf("fastCheck says valid=%v, the validator says %v, for %+v", fast, err, *v)
	}
	return fast
}

// TestFastCheckAgreesWithTheValidator draws 50,000 values of a type with
// every compiled tag and kind, boundary values included, and checks that
// the compiled checks accept exactly what the validator accepts.
func TestFastCheckAgreesWithTheValidator(t *testing.T) {
	fc := compileFastCheck(reflect.TypeFor[fcAll]())
	if fc == nil {
		t.Fatal("fcAll has no fastCheck")
	}
	p := &picker{rnd: rand.New(rand.NewPCG(1, 2))}
	valid := 0
	const n = 50_000
	for range n {
		v := p.value()
		if agree(t, fc, v) {
			valid++
		}
	}
	// Both answers must occur, or the comparison says little.
	if valid < 20 || valid > n-20 {
		t.Fatalf("%d of %d values valid: draw a better mix", valid, n)
	}
	// The base value, with nothing drawn, is valid.
	if !agree(t, fc, (&picker{}).value()) {
		t.Fatal("the valid value is refused")
	}
}

// FuzzFastCheck builds a value from the input and checks the compiled
// checks against the validator.
func FuzzFastCheck(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 3, 3, 10, 1, 1, 1, 1, 1, 14, 0, 0, 0, 0})
	seed := make([]byte, 8)
	binary.BigEndian.PutUint64(seed, 0x0102030405060708)
	f.Add(seed)
	fc := compileFastCheck(reflect.TypeFor[fcAll]())
	f.Fuzz(func(t *testing.T, b []byte) {
		agree(t, fc, (&picker{b: b}).value())
	})
}

// TestFastCheckLeavesTheRestToTheValidator lists types the compiled checks
// do not cover: each has none, so the validator decides every value.
func TestFastCheckLeavesTheRestToTheValidator(t *testing.T) {
	type dur struct {
		D time.Duration `validate:"min=1s"`
	}
	type iface struct {
		V any
	}
	type pp struct {
		P **fcInner
	}
	type self struct {
		Next *self
	}
	cases := map[string]reflect.Type{
		"dive": reflect.TypeFor[struct {
			L []string `validate:"dive,min=1"`
		}](),
		"tagged slice": reflect.TypeFor[struct {
			L []string `validate:"min=1"`
		}](),
		"email": reflect.TypeFor[struct {
			E string `validate:"email"`
		}](),
		"or": reflect.TypeFor[struct {
			E string `validate:"len=2|len=4"`
		}](),
		"quoted oneof": reflect.TypeFor[struct {
			E string `validate:"oneof='a b' c"`
		}](),
		"omitnil": reflect.TypeFor[struct {
			E *string `validate:"omitnil,min=1"`
		}](),
		"late omit": reflect.TypeFor[struct {
			E string `validate:"min=1,omitempty"`
		}](),
		"required_if": reflect.TypeFor[struct {
			A, B string `validate:"required_if=A x"`
		}](),
		"tagged struct": reflect.TypeFor[struct {
			In fcInner `validate:"required"`
		}](),
		"duration":      reflect.TypeFor[dur](),
		"interface":     reflect.TypeFor[iface](),
		"pointer chain": reflect.TypeFor[pp](),
		"recursive":     reflect.TypeFor[self](),
		"bool min": reflect.TypeFor[struct {
			B bool `validate:"min=1"`
		}](),
		"float oneof": reflect.TypeFor[struct {
			F float64 `validate:"oneof=1 2"`
		}](),
		"nested unsupp": reflect.TypeFor[struct {
			In struct {
				E string `validate:"email"`
			}
		}](),
	}
	for name, typ := range cases {
		if fc := compileFastCheck(typ); fc != nil {
			t.Errorf("%s: compiled, want left to the validator", name)
		}
	}
}

// TestFastCheckOnlyWithTheBindersValidator: a validator of the user's may
// redefine a tag, so a Binder with Config.Validator runs it on every value.
func TestFastCheckOnlyWithTheBindersValidator(t *testing.T) {
	type req struct {
		Prompt string `json:"prompt" validate:"required,max=4"`
	}
	own, err := newBinder(reflect.TypeFor[req](), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if own.fast == nil {
		t.Fatal("the Binder's own validator: no fastCheck")
	}
	v := NewValidator()
	if err := v.RegisterValidation("max", func(validator.FieldLevel) bool { return false }); err != nil {
		t.Fatal(err)
	}
	users, err := newBinder(reflect.TypeFor[req](), Config{Validator: v})
	if err != nil {
		t.Fatal(err)
	}
	if users.fast != nil {
		t.Fatal("a user's validator: fastCheck compiled, want none")
	}
	// Through the Binder: its redefined max refuses what the built-in one
	// accepts.
	for _, c := range []struct {
		b    *binder
		want bool
	}{{own, true}, {users, false}} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"prompt":"ab"}`))
		r.Header.Set("Content-Type", "application/json")
		_, err := c.b.run(httptest.NewRecorder(), r, nil, new(req))
		if (err == nil) != c.want {
			t.Errorf("accepted=%v, want %v (err %v)", err == nil, c.want, err)
		}
	}
}
