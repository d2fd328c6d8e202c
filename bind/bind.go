package bind

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/go-playground/validator/v10"
)

// DefaultMaxBodyBytes is the body size limit of a [Binder] when
// [Config].MaxBodyBytes is zero: 1 MiB.
const DefaultMaxBodyBytes = 1 << 20

// BodyMode says whether a route reads a JSON body.
type BodyMode uint8

const (
	// BodyAuto (the zero value) is BodyRequired for POST, PUT and PATCH and
	// BodyNone for every other method.
	BodyAuto BodyMode = iota

	// BodyRequired reads the body as JSON; an empty body (or one of only
	// white space) is a 400 "request body is required".
	BodyRequired

	// BodyOptional reads a non-empty body as JSON and leaves the value at
	// its zero value (plus query and path parameters) when the body is
	// empty.
	BodyOptional

	// BodyNone never reads the body; only query and path parameters are
	// bound.
	BodyNone
)

// Config configures a [Binder] ([New]) and the Bind guard of each front
// door. The zero value is valid: a 1 MiB JSON body required on POST, PUT
// and PATCH, unknown JSON fields ignored, the shared validator of
// [NewValidator], no model rules.
type Config struct {
	// Skip skips binding when it returns true: [Binder.Bind] returns nil,
	// nil, nil and the front doors' Body returns nil. Nil binds always.
	Skip func(r *http.Request) bool

	// Validator validates the bound value. Nil means a validator built by
	// [NewValidator], shared by every Binder; then the common tags
	// (omitempty first, required, min, max, len, gt, gte, lt, lte, oneof on
	// strings, booleans, numbers and pointers to them) are compiled at New,
	// and a value that passes them is not run through the validator (which
	// would pass it too; a value that fails is, and its errors are the ones
	// reported). A validator of yours runs on every value, as it may
	// redefine a tag. It should register a tag-name function returning JSON
	// names, as NewValidator's does, or params will carry Go field names.
	Validator *validator.Validate

	// Models enables model rules: the request type must implement
	// [ModelRequest], and the model it names is looked up here after the
	// value is valid. Nil checks no model rules.
	Models ModelRegistry

	// ModelParam is the param of the 404 for an unknown model. Default
	// "model".
	ModelParam string

	// MaxBodyBytes bounds the body, chunked bodies included: a larger body
	// is a 400. Zero means DefaultMaxBodyBytes (1 MiB); negative is an
	// error.
	MaxBodyBytes int64

	// Body says whether the route reads a JSON body. Default BodyAuto.
	Body BodyMode

	// Strict rejects JSON object members that match no field of the
	// request type with a 400 naming the member. Default false: unknown
	// members are ignored.
	Strict bool

	// ReadTimeout bounds the time to receive the whole body, counted from
	// when Bind starts reading it; the request context's deadline, when
	// earlier, bounds it too. A body not received in time is a 400
	// invalid_request "The request body was not received in time." and
	// the connection is closed, so a client that sends its body slowly,
	// or stops, cannot hold a handler and a connection for ever. (400, not
	// a 5xx: the contract has no 408, the client's input did not arrive,
	// and a 5xx would invite SDKs to resend the same slow body.) Zero
	// means 30 seconds, which a 1 MiB body meets at about 35 KB/s, unless
	// the http.Server has a ReadTimeout of its own, which then stays the
	// one bound; negative is an error. The deadline is set on the
	// connection, and replaces http.Server.ReadTimeout's for the time of
	// the read, so keep it no longer than that; behind a ResponseWriter
	// that cannot set deadlines only a client that trickles bytes is
	// stopped, and the server's own timeouts are the backstop.
	ReadTimeout time.Duration

	// AllowNUL accepts strings that hold U+0000 (the NUL character).
	// Default false: a JSON string value or member name that the bound
	// value keeps, or a query or path parameter, holding U+0000 is a 400
	// invalid_request naming the field as param ("prompt must not contain
	// the character U+0000"). PostgreSQL's text and jsonb cannot store it,
	// so without this check such a request would fail later, in the
	// database, instead of being told what to change; and an app on the
	// in-memory stores answers it the same way as one on PostgreSQL.
	AllowNUL bool
}

// Defaulter is implemented by request types that fill in defaults for
// absent fields. Default is called on the bound value after binding and
// before validation, so defaults are validated like client input. Defaults
// that depend on the chosen model belong in [Model].Defaults instead.
type Defaulter interface {
	Default()
}

// Binder binds requests into a new T (a struct type), validates them and,
// with [Config].Models, checks the model rules. Build one with [New] per
// route (or per request type and configuration); it is safe for concurrent
// use. It is a guard.Guard ([Binder.Serve]): every front door mounts it
// with its Use, and handlers read the value with [Body].
type Binder[T any] struct {
	b *binder
}

// New returns the [Binder] of T for cfg. The reflection on T is done once,
// here.
//
// New returns an error, never panics, when T is not a struct, a field
// tagged `query` or `param` has a type it cannot parse, a validate tag is
// unknown to the validator, MaxBodyBytes or ReadTimeout is negative, Body
// is not a [BodyMode], Models is set but *T does not implement
// [ModelRequest], or a model of a registry that lists its models (such as
// [MemoryModels]) has a rule or default naming a field T lacks.
func New[T any](cfg Config) (*Binder[T], error) {
	b, err := newBinder(reflect.TypeFor[T](), cfg)
	if err != nil {
		return nil, err
	}
	return &Binder[T]{b: b}, nil
}

// Bind binds r into a new T, validates it and checks the model rules; it
// returns the value, the model the request named (nil without
// [Config].Models) and nil, or the error to render. With [Config].Skip
// returning true it returns nil, nil, nil without reading anything.
//
// w is the request's writer: Bind only uses it to set a read deadline on
// the connection and, for a body over the limit, to tell net/http to close
// the connection; it writes no response. param looks up a path parameter
// by name ("" when absent or empty: an empty value is treated as absent);
// nil means the route has none.
//
// Per request, Bind runs these steps and stops at the first error:
//
//  1. binds the JSON body (see [BodyMode], [Config].MaxBodyBytes,
//     [Config].ReadTimeout, [Config].Strict), then `query:"name"` fields
//     from the query string, then `param:"name"` fields from param; later
//     sources win; a string holding U+0000 is refused (see
//     [Config].AllowNUL);
//  2. calls Default on the value when *T implements [Defaulter];
//  3. validates it with go-playground/validator struct tags;
//  4. when [Config].Models is set, looks up the model that *T names
//     through [ModelRequest], applies the model's Defaults and checks its
//     Rules.
//
// Required numbers and booleans: go-playground's `required` means "not the
// zero value", so on a plain int it rejects 0 and on a plain bool false,
// whether the client sent the value or left the field out. A field that
// must be sent but may be 0 or false is a pointer (*int, *bool) tagged
// `validate:"required"`: nil is absent, a pointer to 0 was sent. A plain
// int tagged `validate:"required,min=1"` reads 0 as missing; when the
// client did send 0 (false for a bool) the message says so, "duration must
// not be 0" ("must be true"), and a field truly absent is "duration is
// required". A plain int with only `validate:"min=1"` treats absent as 0.
//
// Steps 1–3 fail with 400 invalid_request, step 4 with 404 not_found
// (param [Config].ModelParam) for an unknown model, 422 model_input_invalid
// for a rule the parameters break, and 503 service_unavailable when the
// registry fails. So every form error (400) is reported before a model
// error. Each error names the first failing field as param (its JSON name,
// dotted for nested fields, [i] for list items) in field order; the full
// list of failures stays in the error's cause (validator.ValidationErrors
// or [Violations]) for the log. A body that could not be read because the
// request's context ended maps as [errorsx.From] does (503).
func (b *Binder[T]) Bind(w http.ResponseWriter, r *http.Request, param func(name string) string) (*T, *Model, error) {
	if b.b.cfg.Skip != nil && b.b.cfg.Skip(r) {
		return nil, nil, nil
	}
	v := new(T)
	m, err := b.b.run(w, r, param, v)
	if err != nil {
		return nil, nil, err
	}
	return v, m, nil
}

// NewValidator returns a go-playground validator set up the way [Binder]
// expects: required on nested structs enabled, and field names taken from
// the `json` tag (else `query`, else `param`, else the Go name), so that
// namespaces are JSON paths and errors name fields as clients do. It is
// safe for concurrent use; register custom validations before first use.
func NewValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(fieldName)
	return v
}

var (
	sharedValidatorOnce sync.Once
	sharedValidator     *validator.Validate
)

func defaultValidator() *validator.Validate {
	sharedValidatorOnce.Do(func() { sharedValidator = NewValidator() })
	return sharedValidator
}

// fieldName is the tag-name function of NewValidator: the name a client uses
// for the field.
func fieldName(f reflect.StructField) string {
	if f.Anonymous && tagName(f.Tag.Get("json")) == "" {
		// An embedded struct's fields are promoted into the JSON object
		// of its parent; the marker is removed from paths by paramPath.
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			return embeddedMarker
		}
	}
	if n := tagName(f.Tag.Get("json")); n != "" && n != "-" {
		return n
	}
	for _, tag := range [...]string{"query", "param"} {
		if n := tagName(f.Tag.Get(tag)); n != "" && n != "-" {
			return n
		}
	}
	return f.Name
}

// embeddedMarker is the validator name of an embedded struct without a JSON
// name; no JSON member is named with a NUL byte.
const embeddedMarker = "\x00"

// fromValidationErrors is errorsx.FromValidationErrors with the segments of
// embedded structs removed from the param, so it is the JSON path, and with
// a plainer message where `required` failed on a plain number or bool the
// client did send: "duration must not be 0" (or "must be true") rather than
// "duration is required", which would tell the client it left the field
// out. data is the JSON body as read (nil when none was).
func (b *binder) fromValidationErrors(r *http.Request, param func(string) string, data []byte, ve validator.ValidationErrors) *errorsx.Error {
	var e *errorsx.Error
	if len(ve) == 0 || !strings.Contains(ve[0].Namespace(), embeddedMarker) {
		e = FromValidationErrors(ve)
	} else {
		param := strings.ReplaceAll(FieldPath(ve[0]), embeddedMarker+".", "")
		param = strings.TrimSuffix(strings.TrimSuffix(param, embeddedMarker), ".")
		name := param
		if name == "" {
			name = "body"
		}
		e = errorsx.InvalidRequest().
			WithParam(param).
			WithMessage(FieldMessage(name, ve[0])).
			WithCause(ve)
	}
	if len(ve) == 0 || ve[0].Tag() != "required" || e.Param() == "" {
		return e
	}
	var words string
	switch k := ve[0].Kind(); {
	case k == reflect.Bool:
		words = " must be true"
	case k >= reflect.Int && k <= reflect.Uint64, k == reflect.Float32, k == reflect.Float64:
		words = " must not be 0"
	default:
		return e
	}
	if !b.sent(r, param, data, e.Param()) {
		return e
	}
	return e.WithMessage(e.Param() + words)
}

// sent reports whether the client gave a value for the field at path: a
// non-null JSON member in data, or a non-empty query or path parameter.
// Only used to word an error, on the error path.
func (b *binder) sent(r *http.Request, param func(string) string, data []byte, path string) bool {
	for _, pf := range b.plan.query {
		if pf.name == path && r.URL.Query().Get(path) != "" {
			return true
		}
	}
	for _, pf := range b.plan.path {
		if pf.name == path && param != nil && param(path) != "" {
			return true
		}
	}
	return len(data) > 0 && present(data, b.plan.t, path)
}

// jsonName returns the JSON member name of f as encoding/json sees it, and
// false when f is not in the JSON (json:"-").
func jsonName(f reflect.StructField) (string, bool) {
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", false
	}
	if n := tagName(tag); n != "" {
		return n, true
	}
	return f.Name, true
}

func tagName(tag string) string {
	if i := strings.IndexByte(tag, ','); i >= 0 {
		return tag[:i]
	}
	return tag
}

// binder is the per-type state of one Binder[T]: config with defaults
// applied and the reflection plan of T.
type binder struct {
	cfg      Config
	validate *validator.Validate
	fast     *fastCheck // nil: every value goes through validate
	plan     *plan
	modelReq bool
}

var modelRequestType = reflect.TypeFor[ModelRequest]()

func newBinder(t reflect.Type, cfg Config) (*binder, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("bind: New[%s]: the request type must be a struct", t)
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("bind: New[%s]: MaxBodyBytes %d is negative", t, cfg.MaxBodyBytes)
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.ReadTimeout < 0 {
		return nil, fmt.Errorf("bind: New[%s]: ReadTimeout %v is negative", t, cfg.ReadTimeout)
	}
	// A zero ReadTimeout stays zero: bodyread.Read applies the default
	// only where the http.Server has no ReadTimeout of its own.
	if cfg.Body > BodyNone {
		return nil, fmt.Errorf("bind: New[%s]: unknown BodyMode %d", t, cfg.Body)
	}
	if cfg.ModelParam == "" {
		cfg.ModelParam = "model"
	}
	b := &binder{cfg: cfg, validate: cfg.Validator}
	if b.validate == nil {
		b.validate = defaultValidator()
		b.fast = compileFastCheck(t)
	}
	p, err := newPlan(t)
	if err != nil {
		return nil, fmt.Errorf("bind: New[%s]: %w", t, err)
	}
	b.plan = p
	if err := dryRun(b.validate, reflect.New(t).Interface()); err != nil {
		return nil, fmt.Errorf("bind: New[%s]: %w", t, err)
	}
	if cfg.Models != nil {
		if !reflect.PointerTo(t).Implements(modelRequestType) {
			return nil, fmt.Errorf("bind: New[%s]: Models is set but *%s does not implement ModelRequest", t, t)
		}
		b.modelReq = true
		if l, ok := cfg.Models.(interface{ List() []*Model }); ok {
			for _, m := range l.List() {
				if err := p.checkModel(m); err != nil {
					return nil, fmt.Errorf("bind: New[%s]: %w", t, err)
				}
			}
		}
	}
	return b, nil
}

// dryRun validates a zero value once so that a validate tag the validator
// does not know (it panics on those) fails at construction, not per request.
func dryRun(v *validator.Validate, zero any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("validate tags: %v", r)
		}
	}()
	var inv *validator.InvalidValidationError
	if e := v.Struct(zero); errors.As(e, &inv) {
		return e
	}
	return nil
}

// run binds, defaults, validates and checks model rules for one request.
func (b *binder) run(w http.ResponseWriter, r *http.Request, param func(string) string, v any) (*Model, error) {
	rv := reflect.ValueOf(v).Elem()
	bp := bodyBufPool.Get().(*[]byte)
	data, err := b.bindBody(w, r, v, (*bp)[:0])
	defer putBodyBuf(bp, data)
	if err != nil {
		return nil, err
	}
	if err := b.refuseNUL(r, param, data); err != nil {
		return nil, err
	}
	if err := b.plan.bindParams(r, param, rv); err != nil {
		return nil, err
	}
	if d, ok := v.(Defaulter); ok {
		d.Default()
	}
	// A value the compiled checks pass is one the validator would pass
	// (fastcheck.go); any other goes to the validator, whose errors are
	// the ones reported.
	if b.fast == nil || !b.fast.valid(rv) {
		if err := b.validate.StructCtx(r.Context(), v); err != nil {
			var ve validator.ValidationErrors
			if errors.As(err, &ve) {
				return nil, b.fromValidationErrors(r, param, data, ve)
			}
			return nil, errorsx.Internal().WithCause(err)
		}
	}
	if !b.modelReq {
		return nil, nil
	}
	return b.checkModel(r.Context(), v.(ModelRequest), rv)
}

func (b *binder) checkModel(ctx context.Context, req ModelRequest, rv reflect.Value) (*Model, error) {
	id := req.ModelID()
	m, ok, err := b.cfg.Models.Lookup(ctx, id)
	if err != nil {
		var e *errorsx.Error
		if errors.As(err, &e) && e.Status() >= 500 {
			return nil, e
		}
		return nil, errorsx.ServiceUnavailable().
			WithMessage("The model registry is temporarily unavailable. Please retry with backoff.").
			WithCause(fmt.Errorf("model registry lookup %q: %w", id, err))
	}
	if !ok || m == nil {
		return nil, errorsx.NotFound().
			WithParam(b.cfg.ModelParam).
			WithMessage(fmt.Sprintf("model %q does not exist", id)) // errorsx cuts a long id
	}
	if err := b.plan.applyDefaults(m, rv); err != nil {
		return nil, errorsx.Internal().WithCause(err)
	}
	f := Fields{v: rv, p: b.plan}
	var all Violations
	for _, r := range m.Rules {
		if r == nil {
			continue
		}
		if vi := r.Check(m, f); vi != nil {
			all = append(all, *vi)
		}
	}
	if len(all) > 0 {
		first := all[0]
		msg := first.Message
		if msg == "" {
			msg = "The parameters are not accepted by model " + m.ID + "."
		}
		return nil, errorsx.ModelInputInvalid().WithParam(first.Param).WithMessage(msg).WithCause(all)
	}
	return m, nil
}
