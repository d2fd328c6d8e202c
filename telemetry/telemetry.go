// Package telemetry holds what an application sees of apiguard's
// OpenTelemetry instruments: the names and attributes of its metrics (a
// public contract, listed in docs/observability.md) and the [Config] every
// guard takes. The plumbing the guards count and time store calls with
// lives in an internal package.
//
// It depends on the OpenTelemetry API only. Each guard takes a [Config]; its
// zero value uses the global providers (otel.GetMeterProvider,
// otel.GetTracerProvider), which are no-ops until the application installs
// an SDK. No attribute ever carries an API key, a tenant id or another
// unbounded value: only the bounded values named here, and rate-limit policy
// names, which the application fixes in its configuration.
package telemetry

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of apiguard's meter and tracer.
const ScopeName = "github.com/clipia/apiguard"

// Metric names.
const (
	MetricErrors              = "apiguard.errors"               // counter: every rendered error
	MetricRateLimitDecisions  = "apiguard.ratelimit.decisions"  // counter: every rate-limit decision
	MetricIdempotencyRequests = "apiguard.idempotency.requests" // counter: every guarded request's outcome
	MetricAuthRequests        = "apiguard.auth.requests"        // counter: every authentication and scope check
	MetricStoreDuration       = "apiguard.store.duration"       // histogram, seconds: every store call
)

// Attribute keys.
const (
	AttrStatusCode         = attribute.Key("http.response.status_code")
	AttrErrorCode          = attribute.Key("apiguard.error.code")
	AttrRateLimitPolicy    = attribute.Key("apiguard.ratelimit.policy")
	AttrRateLimitOutcome   = attribute.Key("apiguard.ratelimit.outcome")
	AttrRateLimitRemaining = attribute.Key("apiguard.ratelimit.remaining") // span attribute only
	AttrIdempotencyOutcome = attribute.Key("apiguard.idempotency.outcome")
	AttrAuthOutcome        = attribute.Key("apiguard.auth.outcome")
	AttrStore              = attribute.Key("apiguard.store")
	AttrStoreOperation     = attribute.Key("apiguard.store.operation")
)

// Outcomes: the values of the outcome attributes.
const (
	RateLimitAllowed       = "allowed"
	RateLimitLimited       = "limited"
	RateLimitShadowLimited = "shadow_limited"
	RateLimitError         = "error"

	IdempotencyExecuted   = "executed"
	IdempotencyReplayed   = "replayed"
	IdempotencyInProgress = "in_progress"
	IdempotencyKeyReuse   = "key_reuse"
	IdempotencyReleased   = "released"
	IdempotencyLeaseLost  = "lease_lost"
	IdempotencyStoreError = "store_error"

	AuthOK                = "ok"
	AuthInvalidKey        = "invalid_key"
	AuthInsufficientScope = "insufficient_scope"
	AuthStoreError        = "store_error"
)

// Config selects the OpenTelemetry providers of a guard. The zero value uses
// the global providers.
type Config struct {
	// MeterProvider creates apiguard's meter. Nil means
	// otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// TracerProvider creates apiguard's tracer, for the child spans of
	// store calls. Nil means otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
}
