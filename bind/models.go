package bind

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// ModelRequest is implemented by request types that name a model. With
// [Config].Models set, [Binder.Bind] looks the model up by ModelID after the
// request is valid and checks its rules.
type ModelRequest interface {
	ModelID() string
}

// ModelRegistry finds a model by id. Lookup returns the model and true, or
// nil and false (with a nil error) for an unknown id, which [Binder.Bind] answers
// with 404 not_found; an error means the registry could not answer (a
// database is down) and becomes 503 service_unavailable, never a 4xx.
// Implementations must be safe for concurrent use. [MemoryModels] is the
// in-memory implementation; apps with models in a database implement the
// interface themselves.
type ModelRegistry interface {
	Lookup(ctx context.Context, id string) (*Model, bool, error)
}

// Model is what one model accepts. A Model is shared by every request that
// names it: treat it as read-only once registered.
type Model struct {
	// ID is what requests name the model by, e.g. "clipia-fast".
	ID string

	// Defaults are set on fields that are still zero (or nil pointers)
	// after validation, before the rules run, keyed by JSON path
	// ("resolution", "input.fps"). Values are converted to the field's type
	// (numbers to numbers, strings to strings), e.g. {"resolution": "480p"}.
	Defaults map[string]any

	// Rules are checked in order; every failing rule is recorded in the
	// error's cause ([Violations]) and the first one is reported as a 422
	// model_input_invalid.
	Rules []Rule

	// Data is the app's own information about the model (price, display
	// name); the binder never reads it. Handlers reach it through the
	// front door's ModelFrom.
	Data any
}

// Rule is one constraint a model puts on well-formed parameters. Check
// returns nil when the request satisfies it, else the violation to report.
// Built-in rules: [MaxInt], [MinInt], [OneOf]; [RuleFunc] adapts a function,
// e.g. for a rule across fields.
type Rule interface {
	Check(m *Model, f Fields) *Violation
}

// RuleFunc adapts a function to a [Rule].
type RuleFunc func(m *Model, f Fields) *Violation

// Check calls fn.
func (fn RuleFunc) Check(m *Model, f Fields) *Violation { return fn(m, f) }

// Violation is a failed model rule: the param at fault (JSON path; empty
// when no single field is) and a message for people that names the limit,
// e.g. "clipia-fast accepts a duration of at most 10 seconds".
type Violation struct {
	Param   string
	Message string
}

// Violations is every failed rule of one request, in rule order. It is the
// cause of the 422, for the log.
type Violations []Violation

// Error lists the violations.
func (vs Violations) Error() string {
	var b strings.Builder
	b.WriteString("model rules failed: ")
	for i, v := range vs {
		if i > 0 {
			b.WriteString("; ")
		}
		if v.Param != "" {
			b.WriteString(v.Param)
			b.WriteString(": ")
		}
		b.WriteString(v.Message)
	}
	return b.String()
}

// Fields gives rules read access to the bound request by JSON path
// ("duration", "input.fps"; no list items). The typed getters return false
// when the path is unknown, a pointer on the way is nil (the field is
// absent), or the field is of another kind. A Fields is only valid during
// Check.
type Fields struct {
	v reflect.Value
	p *plan
}

// Request returns the bound request, a *T of the route's Binder[T], for rules
// that prefer the typed value.
func (f Fields) Request() any {
	if !f.v.IsValid() {
		return nil
	}
	return f.v.Addr().Interface()
}

// Value returns the field at path (dereferenced when it is a pointer).
func (f Fields) Value(path string) (any, bool) {
	v, ok := f.lookup(path)
	if !ok || !v.CanInterface() {
		return nil, false
	}
	return v.Interface(), true
}

// Int returns an integer field (any int or uint kind) at path.
func (f Fields) Int(path string) (int64, bool) {
	v, ok := f.lookup(path)
	switch {
	case !ok:
		return 0, false
	case isInt(v.Kind()):
		return v.Int(), true
	case isUint(v.Kind()):
		u := v.Uint()
		if u > 1<<63-1 {
			return 1<<63 - 1, true
		}
		return int64(u), true
	}
	return 0, false
}

// Float returns a number field (float, int or uint kind) at path.
func (f Fields) Float(path string) (float64, bool) {
	v, ok := f.lookup(path)
	switch {
	case !ok:
		return 0, false
	case v.Kind() == reflect.Float32 || v.Kind() == reflect.Float64:
		return v.Float(), true
	case isInt(v.Kind()):
		return float64(v.Int()), true
	case isUint(v.Kind()):
		return float64(v.Uint()), true
	}
	return 0, false
}

// String returns a string field at path.
func (f Fields) String(path string) (string, bool) {
	v, ok := f.lookup(path)
	if !ok || v.Kind() != reflect.String {
		return "", false
	}
	return v.String(), true
}

func (f Fields) lookup(path string) (reflect.Value, bool) {
	if f.p == nil || !f.v.IsValid() {
		return reflect.Value{}, false
	}
	return f.p.lookup(f.v, path)
}

// MaxInt is the rule "the integer at field is at most max": a request over
// it fails with param field and the message "<model> accepts a <field> of
// at most <max> <unit>" (unit may be empty). An absent field passes.
func MaxInt(field string, max int64, unit string) Rule {
	return intRule{field: field, limit: max, unit: unit, max: true}
}

// MinInt is the rule "the integer at field is at least min": the message is
// "<model> accepts a <field> of at least <min> <unit>". An absent field
// passes.
func MinInt(field string, min int64, unit string) Rule {
	return intRule{field: field, limit: min, unit: unit}
}

type intRule struct {
	field string
	limit int64
	unit  string
	max   bool
}

func (r intRule) Check(m *Model, f Fields) *Violation {
	n, ok := f.Int(r.field)
	if !ok || (r.max && n <= r.limit) || (!r.max && n >= r.limit) {
		return nil
	}
	bound := "at least "
	if r.max {
		bound = "at most "
	}
	msg := m.ID + " accepts " + article(r.field) + " of " + bound + strconv.FormatInt(r.limit, 10)
	if r.unit != "" {
		msg += " " + r.unit
	}
	return &Violation{Param: r.field, Message: msg}
}

func (r intRule) checkPlan(p *plan) error {
	pf, ok := p.fields[r.field]
	if !ok {
		return fmt.Errorf("rule on unknown field %q", r.field)
	}
	t := pf.typ
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if !isInt(t.Kind()) && !isUint(t.Kind()) {
		return fmt.Errorf("integer rule on %q of type %s", r.field, pf.typ)
	}
	return nil
}

// OneOf is the rule "the string at field is one of values": otherwise the
// request fails with param field and the message "<model> accepts a
// <field> of 480p or 720p" ("… only a <field> of 720p" for one value). An
// absent field, or an empty string, passes; make it required or give the
// model a default.
func OneOf(field string, values ...string) Rule {
	return oneOfRule{field: field, values: append([]string(nil), values...)}
}

type oneOfRule struct {
	field  string
	values []string
}

func (r oneOfRule) Check(m *Model, f Fields) *Violation {
	s, ok := f.String(r.field)
	if !ok || s == "" {
		return nil
	}
	for _, v := range r.values {
		if s == v {
			return nil
		}
	}
	var msg string
	switch len(r.values) {
	case 0:
		msg = m.ID + " accepts no " + r.field
	case 1:
		msg = m.ID + " accepts only " + article(r.field) + " of " + r.values[0]
	default:
		msg = m.ID + " accepts " + article(r.field) + " of " +
			strings.Join(r.values[:len(r.values)-1], ", ") + " or " + r.values[len(r.values)-1]
	}
	return &Violation{Param: r.field, Message: msg}
}

func (r oneOfRule) checkPlan(p *plan) error {
	pf, ok := p.fields[r.field]
	if !ok {
		return fmt.Errorf("rule on unknown field %q", r.field)
	}
	t := pf.typ
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.String {
		return fmt.Errorf("OneOf rule on %q of type %s", r.field, pf.typ)
	}
	return nil
}

// article prefixes a field name with "a" or "an".
func article(field string) string {
	if field != "" && strings.ContainsRune("aeiouAEIOU", rune(field[0])) {
		return "an " + field
	}
	return "a " + field
}

// MemoryModels is the in-memory [ModelRegistry]: a fixed set of models,
// built once by [NewMemoryModels] and safe for concurrent use (it is never
// modified afterwards). The zero value holds no models.
type MemoryModels struct {
	byID  map[string]*Model
	order []*Model
}

// NewMemoryModels returns a registry of models, in the given order. It
// fails on an empty or duplicate id. The models are copied; their Rules,
// Defaults and Data are shared with the caller and must not change
// afterwards.
func NewMemoryModels(models ...Model) (*MemoryModels, error) {
	r := &MemoryModels{byID: make(map[string]*Model, len(models))}
	for i := range models {
		m := models[i]
		if m.ID == "" {
			return nil, errors.New("bind: NewMemoryModels: model with an empty ID")
		}
		if _, dup := r.byID[m.ID]; dup {
			return nil, fmt.Errorf("bind: NewMemoryModels: duplicate model %q", m.ID)
		}
		r.byID[m.ID] = &m
		r.order = append(r.order, &m)
	}
	return r, nil
}

// Lookup returns the model with id. It never fails.
func (r *MemoryModels) Lookup(_ context.Context, id string) (*Model, bool, error) {
	if r == nil {
		return nil, false, nil
	}
	m, ok := r.byID[id]
	return m, ok, nil
}

// List returns the models in registration order, e.g. for GET /v1/models.
// [New] also uses it to check, at construction, that every rule and
// default names a field of the request type.
func (r *MemoryModels) List() []*Model {
	if r == nil {
		return nil
	}
	return append([]*Model(nil), r.order...)
}
