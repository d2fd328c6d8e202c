package bind_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/clipia/apiguard/bind"
)

type ruleTarget struct {
	Count   uint16  `json:"count"`
	Seconds *int64  `json:"seconds"`
	Name    string  `json:"name"`
	Ratio   float32 `json:"ratio"`
	Inner   *struct {
		Aspect string `json:"aspect"`
	} `json:"inner"`
}

func (ruleTarget) ModelID() string { return "m" }

// checkRules binds body into ruleTarget through a model with rules and
// returns the status and the envelope.
func checkRules(t *testing.T, m bind.Model, body string) (int, envelope) {
	t.Helper()
	m.ID = "m"
	models, err := bind.NewMemoryModels(m)
	if err != nil {
		t.Fatal(err)
	}
	h := route(t, bind.Config{Models: models}, echoJSON[ruleTarget])
	rec, env := serve(t, h, jsonRequest(http.MethodPost, "/", body))
	return rec.Code, env
}

func TestRules(t *testing.T) {
	tests := []struct {
		name        string
		rule        bind.Rule
		body        string
		wantStatus  int
		wantParam   string
		wantMessage string
	}{
		{"max passes at limit", bind.MaxInt("count", 3, "items"), `{"count":3}`, 200, "", ""},
		{"max fails over limit", bind.MaxInt("count", 3, "items"), `{"count":4}`, 422, "count", "m accepts a count of at most 3 items"},
		{"max without unit", bind.MaxInt("count", 3, ""), `{"count":4}`, 422, "count", "m accepts a count of at most 3"},
		{"max on absent pointer passes", bind.MaxInt("seconds", 3, "seconds"), `{}`, 200, "", ""},
		{"max on pointer", bind.MaxInt("seconds", 3, "seconds"), `{"seconds":4}`, 422, "seconds", "m accepts a seconds of at most 3 seconds"},
		{"min fails under limit", bind.MinInt("count", 2, ""), `{"count":1}`, 422, "count", "m accepts a count of at least 2"},
		{"min passes at limit", bind.MinInt("count", 2, ""), `{"count":2}`, 200, "", ""},
		{"one of passes", bind.OneOf("name", "a", "b"), `{"name":"b"}`, 200, "", ""},
		{"one of empty passes", bind.OneOf("name", "a", "b"), `{}`, 200, "", ""},
		{"one of fails", bind.OneOf("name", "a", "b", "c"), `{"name":"d"}`, 422, "name", "m accepts a name of a, b or c"},
		{"one of single value", bind.OneOf("name", "a"), `{"name":"d"}`, 422, "name", "m accepts only a name of a"},
		{"nested one of uses an", bind.OneOf("inner.aspect", "16:9"), `{"inner":{"aspect":"4:3"}}`, 422, "inner.aspect", "m accepts only an inner.aspect of 16:9"},
		{"nested absent passes", bind.OneOf("inner.aspect", "16:9"), `{}`, 200, "", ""},
		{"func sees typed request", bind.RuleFunc(func(m *bind.Model, f bind.Fields) *bind.Violation {
			r := f.Request().(*ruleTarget)
			if fl, _ := f.Float("ratio"); r.Count > 0 && fl == 0 {
				return &bind.Violation{Param: "ratio", Message: "ratio is needed with count"}
			}
			return nil
		}), `{"count":1}`, 422, "ratio", "ratio is needed with count"},
		{"func with no param or message", bind.RuleFunc(func(*bind.Model, bind.Fields) *bind.Violation {
			return &bind.Violation{}
		}), `{}`, 422, "", "The parameters are not accepted by model m."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, env := checkRules(t, bind.Model{Rules: []bind.Rule{tt.rule}}, tt.body)
			if got != tt.wantStatus {
				t.Fatalf("got status %d, want %d", got, tt.wantStatus)
			}
			if got != 422 {
				return
			}
			gotParam := ""
			if env.Error.Param != nil {
				gotParam = *env.Error.Param
			}
			if gotParam != tt.wantParam || env.Error.Message != tt.wantMessage || env.Error.Code != "model_input_invalid" {
				t.Errorf("got %s %q %q, want model_input_invalid %q %q", env.Error.Code, gotParam, env.Error.Message, tt.wantParam, tt.wantMessage)
			}
		})
	}
}

func TestFieldsGetters(t *testing.T) {
	var got []string
	probe := bind.RuleFunc(func(_ *bind.Model, f bind.Fields) *bind.Violation {
		i, iok := f.Int("count")
		p, pok := f.Int("seconds")
		s, sok := f.String("name")
		fl, flok := f.Float("ratio")
		_, wrongKind := f.Int("name")
		_, unknown := f.Value("nope")
		v, vok := f.Value("inner.aspect")
		got = append(got, strings.Join([]string{
			fmtBool(iok) + fmtInt(i), fmtBool(pok) + fmtInt(p), fmtBool(sok) + s,
			fmtBool(flok) + fmtInt(int64(fl*10)), fmtBool(wrongKind), fmtBool(unknown), fmtBool(vok) + toString(v),
		}, " "))
		return nil
	})
	if code, _ := checkRules(t, bind.Model{Rules: []bind.Rule{probe}},
		`{"count":7,"name":"x","ratio":1.5,"inner":{"aspect":"1:1"}}`); code != 200 {
		t.Fatalf("got status %d, want 200", code)
	}
	want := "true7 false0 truex true15 false false true1:1"
	if len(got) != 1 || got[0] != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func fmtBool(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func fmtInt(i int64) string { return strconv.FormatInt(i, 10) }

func toString(v any) string {
	s, _ := v.(string)
	return s
}

func TestModelDefaults(t *testing.T) {
	tests := []struct {
		name     string
		defaults map[string]any
		body     string
		wantJSON string
	}{
		{"string default on empty", map[string]any{"name": "n"}, `{}`,
			`{"count":0,"seconds":null,"name":"n","ratio":0,"inner":null}`},
		{"client value kept", map[string]any{"name": "n"}, `{"name":"x"}`,
			`{"count":0,"seconds":null,"name":"x","ratio":0,"inner":null}`},
		{"int converts to pointer field", map[string]any{"seconds": 5, "count": 2}, `{}`,
			`{"count":2,"seconds":5,"name":"","ratio":0,"inner":null}`},
		{"nested default allocates", map[string]any{"inner.aspect": "16:9"}, `{}`,
			`{"count":0,"seconds":null,"name":"","ratio":0,"inner":{"aspect":"16:9"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			models, err := bind.NewMemoryModels(bind.Model{ID: "m", Defaults: tt.defaults})
			if err != nil {
				t.Fatal(err)
			}
			h := route(t, bind.Config{Models: models}, echoJSON[ruleTarget])
			rec, _ := serve(t, h, jsonRequest(http.MethodPost, "/", tt.body))
			if got := strings.TrimSpace(rec.Body.String()); rec.Code != 200 || got != tt.wantJSON {
				t.Errorf("got %d %s, want 200 %s", rec.Code, got, tt.wantJSON)
			}
		})
	}
}

func TestMemoryModels(t *testing.T) {
	models := testModels(t)
	var ids []string
	for _, m := range models.List() {
		ids = append(ids, m.ID)
	}
	if got, want := strings.Join(ids, ","), "clipia-fast,clipia-pro"; got != want {
		t.Errorf("got List %s, want %s", got, want)
	}
	tests := []struct {
		id     string
		wantOK bool
	}{
		{"clipia-fast", true},
		{"clipia-pro", true},
		{"CLIPIA-FAST", false},
		{"", false},
	}
	for _, tt := range tests {
		m, ok, err := models.Lookup(context.Background(), tt.id)
		if err != nil || ok != tt.wantOK || (ok && m.ID != tt.id) {
			t.Errorf("Lookup(%q) got %v, %v, %v; want ok %v", tt.id, m, ok, err, tt.wantOK)
		}
	}
	var zero bind.MemoryModels
	if _, ok, err := zero.Lookup(context.Background(), "x"); ok || err != nil {
		t.Errorf("zero registry: got ok %v err %v, want false nil", ok, err)
	}
}

func TestViolationsError(t *testing.T) {
	vs := bind.Violations{{Param: "duration", Message: "too long"}, {Message: "no"}}
	if got, want := vs.Error(), "model rules failed: duration: too long; no"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
