package auth

import (
	"context"
	"errors"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/instrument"
	"github.com/clipia/apiguard/principal"
	"github.com/clipia/apiguard/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// DefaultMaxKeyLength is the longest API key, in bytes, that an
// [Authenticator] passes to the key store when [Config.MaxKeyLength] is zero.
const DefaultMaxKeyLength = 256

// HeaderAPIKey is the conventional name of the header some clients send the
// bare key in. An [Authenticator] reads it only when [Config.APIKeyHeader]
// names it.
const HeaderAPIKey = "X-API-Key"

// headerAuthorization is the canonical name of the Authorization header.
const headerAuthorization = "Authorization"

// Config configures [New]. Only Store is required; every other zero field
// means the default documented on it.
type Config struct {
	// Store resolves keys to principals. Required. See [MemoryKeyStore] for
	// the built-in one and [NewCachedKeyStore] for a cache in front of a slow
	// one.
	Store KeyStore

	// Skip, when it returns true, skips authentication: no principal is
	// set and the request goes on. Nil authenticates every request. A route
	// behind a scope check still answers 401 when skipped: scopes fail
	// closed.
	Skip func(r *http.Request) bool

	// APIKeyHeader, when not empty, is a second header that may carry the
	// bare key, usually [HeaderAPIKey] ("X-API-Key"). Default: none; only
	// "Authorization: Bearer <key>" is read. When a request sends both
	// headers they must carry the same key.
	APIKeyHeader string

	// MaxKeyLength is the longest key in bytes; longer ones are rejected as
	// malformed without asking the store. Default [DefaultMaxKeyLength].
	MaxKeyLength int

	// Telemetry selects the OpenTelemetry providers. Every authentication
	// (not a skipped one) is counted in apiguard.auth.requests with
	// apiguard.auth.outcome ok, invalid_key or store_error, and set on the
	// request's span when it is recording; each key lookup is timed in
	// apiguard.store.duration (apiguard.store "memory" for a
	// [MemoryKeyStore], else what the store's Name method returns, else
	// "custom"; operation "lookup") and, under a recording span, becomes a
	// child span. The zero value uses the global providers, no-ops until
	// the application installs an SDK; see docs/observability.md.
	Telemetry telemetry.Config
}

// Reasons a key is rejected, as logged under "reason".
const (
	reasonMissing     = "missing"
	reasonMultiple    = "multiple_headers"
	reasonBadScheme   = "bad_scheme"
	reasonEmpty       = "empty"
	reasonTooLong     = "too_long"
	reasonInvalidChar = "invalid_characters"
	reasonConflicting = "conflicting_headers"
	reasonUnknown     = "unknown"
	reasonRevoked     = "revoked"
)

// ErrRejected is the cause of every 401 that [Authenticator.Authenticate]
// returns; errors.Is tells them from other invalid_api_key errors. The
// cause's text names the reason ("missing", "multiple_headers",
// "bad_scheme", "empty", "too_long", "invalid_characters",
// "conflicting_headers", "unknown" or "revoked"), the header the key came in
// and, for a revoked key, its key id; never the key. The renderer logs it
// once, with the request id.
var ErrRejected = errors.New("apiguard: API key rejected")

type rejectedError struct {
	reason string
	header string // the header the key came in; "" when none was sent
	keyID  string
}

func (e *rejectedError) Error() string {
	s := ErrRejected.Error() + ": " + e.reason
	if e.header != "" {
		s += " (header " + e.header + ")"
	}
	if e.keyID != "" {
		s += " (key id " + e.keyID + ")"
	}
	return s
}

func (e *rejectedError) Unwrap() error { return ErrRejected }

// Is reports a rejected key that was sent as errorsx.ErrCredentialRejected,
// so the renderer's challenge says error="invalid_token".
func (e *rejectedError) Is(target error) bool {
	return target == errorsx.ErrCredentialRejected && e.header != ""
}

// Authenticator finds the caller of a request from its API key. Build one
// with [New]; it is immutable and safe for concurrent use.
type Authenticator struct {
	store        KeyStore
	skip         func(*http.Request) bool
	apiKeyHeader string // canonical; "" when disabled
	maxKeyLen    int
	rejected     map[rejectedError]error // reason and header → the one 401 with that cause
	obs          observer
	lookup       *instrument.StoreOp
}

// observer counts the outcomes of authentications and scope checks in
// apiguard.auth.requests, with options built once.
type observer struct {
	requests metric.Int64Counter
	opts     [numOutcomes][]metric.AddOption
	attrs    [numOutcomes]attribute.KeyValue
}

// Outcomes, indexes into observer's arrays.
const (
	outcomeOK = iota
	outcomeInvalidKey
	outcomeInsufficientScope
	outcomeStoreError
	numOutcomes
)

func newObserver(in *instrument.Instruments) observer {
	o := observer{requests: in.AuthRequests}
	for i, v := range [numOutcomes]string{telemetry.AuthOK, telemetry.AuthInvalidKey, telemetry.AuthInsufficientScope, telemetry.AuthStoreError} {
		o.attrs[i] = telemetry.AttrAuthOutcome.String(v)
		o.opts[i] = instrument.Add(o.attrs[i])
	}
	return o
}

// count counts one outcome and sets it on the request's span when that is
// recording. It allocates nothing without an SDK.
func (o *observer) count(ctx context.Context, outcome int) {
	o.requests.Add(ctx, 1, o.opts[outcome]...)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(o.attrs[outcome])
	}
}

// New returns an [Authenticator] for cfg. It returns an error when Store is
// nil, MaxKeyLength is negative, or APIKeyHeader is not a valid header name
// or is "Authorization".
func New(cfg Config) (*Authenticator, error) {
	if cfg.Store == nil {
		return nil, errors.New("apiguard: auth.Config.Store is nil")
	}
	if cfg.MaxKeyLength < 0 {
		return nil, errors.New("apiguard: auth.Config.MaxKeyLength is negative")
	}
	a := &Authenticator{
		store:     cfg.Store,
		skip:      cfg.Skip,
		maxKeyLen: cfg.MaxKeyLength,
		rejected:  make(map[rejectedError]error),
	}
	in := instrument.New(cfg.Telemetry)
	a.obs = newObserver(in)
	a.lookup = in.StoreOp(instrument.StoreName(cfg.Store), "lookup")
	if a.maxKeyLen == 0 {
		a.maxKeyLen = DefaultMaxKeyLength
	}
	if h := cfg.APIKeyHeader; h != "" {
		if !validHeaderName(h) {
			return nil, errors.New("apiguard: auth.Config.APIKeyHeader is not a valid header name")
		}
		h = textproto.CanonicalMIMEHeaderKey(h)
		if h == headerAuthorization {
			return nil, errors.New(`apiguard: auth.Config.APIKeyHeader must not be "Authorization"`)
		}
		a.apiKeyHeader = h
	}
	headers := []string{"", headerAuthorization}
	if a.apiKeyHeader != "" {
		headers = append(headers, a.apiKeyHeader)
	}
	for _, r := range []string{reasonMissing, reasonMultiple, reasonBadScheme, reasonEmpty, reasonTooLong,
		reasonInvalidChar, reasonConflicting, reasonUnknown, reasonRevoked} {
		for _, h := range headers {
			// Built once: *errorsx.Error is immutable, so every request
			// shares these and a rejection allocates nothing.
			re := rejectedError{reason: r, header: h}
			a.rejected[re] = errorsx.InvalidAPIKey().WithCause(&re)
		}
	}
	return a, nil
}

// Authenticate returns the caller of r: the [principal.Principal] that the
// store holds for the request's API key. The front door puts it into the
// request's context ([principal.NewContext]), where scope checks, the rate
// limiter, the idempotency guard and handlers find it.
//
// The key is read from "Authorization: Bearer <key>" (the scheme in any
// case, one or more spaces after it) and, when [Config.APIKeyHeader] is set,
// from that header. A missing key, a malformed one (another scheme, an empty
// key, one longer than MaxKeyLength, characters other than visible ASCII, a
// header sent twice, two headers with different keys), an unknown key and a
// revoked key all return the same 401 invalid_api_key (an *errorsx.Error)
// with the same message, so a caller cannot learn which keys exist; only its
// cause, which the renderer logs, says which case it was (see
// [ErrRejected]). When a key was sent the cause also matches
// errorsx.ErrCredentialRejected, so the renderer's challenge carries
// error="invalid_token" (RFC 6750). A store failure (any error other than
// [ErrKeyNotFound] or [ErrKeyRevoked]) returns 503 service_unavailable with
// the store's error as the cause; it never looks like a bad key. A store
// that returns neither a principal nor an error yields 500 internal_error.
//
// When [Config.Skip] reports true for r, Authenticate returns nil and nil:
// the request goes on without a principal. Authenticate does not log. It
// allocates nothing beyond what the store does, on success and on every
// rejection but a revoked key.
func (a *Authenticator) Authenticate(r *http.Request) (*principal.Principal, error) {
	if a.skip != nil && a.skip(r) {
		return nil, nil
	}
	ctx := r.Context()
	key, source, reason := a.extract(r.Header)
	if reason != "" {
		a.obs.count(ctx, outcomeInvalidKey)
		return nil, a.reject(reason, source, "")
	}
	lctx, call := a.lookup.Begin(ctx)
	p, err := a.store.Lookup(lctx, key)
	switch {
	case err == nil && p != nil:
		call.End(nil)
		a.obs.count(ctx, outcomeOK)
		return p, nil
	case err == nil:
		call.End(errNoPrincipal)
		a.obs.count(ctx, outcomeStoreError)
		return nil, errorsx.Internal().WithCause(errNoPrincipal)
	case errors.Is(err, ErrKeyRevoked):
		call.End(nil) // an answer, not a failure of the store
		a.obs.count(ctx, outcomeInvalidKey)
		id := ""
		if p != nil {
			id = p.KeyID
		}
		return nil, a.reject(reasonRevoked, source, id)
	case errors.Is(err, ErrKeyNotFound):
		call.End(nil)
		a.obs.count(ctx, outcomeInvalidKey)
		return nil, a.reject(reasonUnknown, source, "")
	default:
		call.End(err)
		a.obs.count(ctx, outcomeStoreError)
		return nil, errorsx.ServiceUnavailable().WithCause(err)
	}
}

// errNoPrincipal is the cause of the 500 of a store that returned neither a
// principal nor an error.
var errNoPrincipal = errors.New("apiguard: key store returned neither a principal nor an error")

// extract finds the key in the request headers. It returns the key and the
// header it came from, or the reason it is unusable; source is "" when no
// key header was sent at all.
func (a *Authenticator) extract(h http.Header) (key, source, reason string) {
	auth := h[headerAuthorization]
	var alt []string
	if a.apiKeyHeader != "" {
		alt = h[a.apiKeyHeader]
	}
	switch {
	case len(auth) == 0 && len(alt) == 0:
		return "", "", reasonMissing
	case len(auth) > 1:
		return "", headerAuthorization, reasonMultiple
	case len(alt) > 1:
		return "", a.apiKeyHeader, reasonMultiple
	}
	if len(auth) == 1 {
		key, reason = parseBearer(auth[0], a.maxKeyLen)
		if reason != "" {
			return "", headerAuthorization, reason
		}
		source = headerAuthorization
	}
	if len(alt) == 1 {
		k, r := checkKey(alt[0], a.maxKeyLen)
		if r != "" {
			return "", a.apiKeyHeader, r
		}
		if source != "" && k != key {
			return "", source, reasonConflicting
		}
		key, source = k, a.apiKeyHeader
	}
	return key, source, ""
}

// parseBearer takes the key out of an Authorization value of the form
// `Bearer 1*SP key` (RFC 6750 §2.1, scheme case-insensitive per RFC 9110),
// or says why it cannot. net/http has already trimmed surrounding
// whitespace.
func parseBearer(v string, maxLen int) (key, reason string) {
	const scheme = "Bearer"
	if v == "" {
		return "", reasonEmpty
	}
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", reasonBadScheme
	}
	rest := v[len(scheme):]
	if rest == "" {
		return "", reasonEmpty
	}
	if rest[0] != ' ' {
		return "", reasonBadScheme // "Bearerx …", "Bearer\t…"
	}
	rest = strings.TrimLeft(rest, " ")
	return checkKey(rest, maxLen)
}

// checkKey accepts 1 to maxLen visible ASCII characters.
func checkKey(k string, maxLen int) (string, string) {
	switch {
	case k == "":
		return "", reasonEmpty
	case len(k) > maxLen:
		return "", reasonTooLong
	case !visibleASCII(k):
		return "", reasonInvalidChar
	}
	return k, ""
}

func (a *Authenticator) reject(reason, source, keyID string) error {
	if keyID == "" {
		if err, ok := a.rejected[rejectedError{reason: reason, header: source}]; ok {
			return err
		}
	}
	return errorsx.InvalidAPIKey().WithCause(&rejectedError{reason: reason, header: source, keyID: keyID})
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
