// Package instrument holds the OpenTelemetry plumbing apiguard's guards
// count and time store calls with, without allocating when nothing listens:
// the instruments of a telemetry.Config, attribute options, and store-call
// spans. Only the guards use it; applications configure telemetry.Config.
package instrument

import (
	"context"
	"sync"
	"time"

	"github.com/clipia/apiguard/telemetry"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Instruments are apiguard's instruments on one pair of providers. They are
// safe for concurrent use.
type Instruments struct {
	Errors              metric.Int64Counter
	RateLimitDecisions  metric.Int64Counter
	IdempotencyRequests metric.Int64Counter
	AuthRequests        metric.Int64Counter
	StoreDuration       metric.Float64Histogram
	Tracer              trace.Tracer
}

type providers struct {
	mp metric.MeterProvider
	tp trace.TracerProvider
}

var cache sync.Map // providers → *Instruments

// New returns the instruments of cfg's providers, created once per pair and
// shared by every guard that uses them. An instrument the SDK refuses is
// replaced by a no-op one (the API's contract); New never fails.
func New(cfg telemetry.Config) *Instruments {
	p := providers{mp: cfg.MeterProvider, tp: cfg.TracerProvider}
	if p.mp == nil {
		p.mp = otel.GetMeterProvider()
	}
	if p.tp == nil {
		p.tp = otel.GetTracerProvider()
	}
	if v, ok := cache.Load(p); ok {
		return v.(*Instruments)
	}
	m := p.mp.Meter(telemetry.ScopeName)
	in := &Instruments{Tracer: p.tp.Tracer(telemetry.ScopeName)}
	in.Errors, _ = m.Int64Counter(telemetry.MetricErrors, metric.WithUnit("{error}"),
		metric.WithDescription("Errors rendered, by HTTP status and catalogue code."))
	in.RateLimitDecisions, _ = m.Int64Counter(telemetry.MetricRateLimitDecisions, metric.WithUnit("{decision}"),
		metric.WithDescription("Rate-limit decisions, by policy and outcome."))
	in.IdempotencyRequests, _ = m.Int64Counter(telemetry.MetricIdempotencyRequests, metric.WithUnit("{request}"),
		metric.WithDescription("Requests with an Idempotency-Key, by outcome."))
	in.AuthRequests, _ = m.Int64Counter(telemetry.MetricAuthRequests, metric.WithUnit("{request}"),
		metric.WithDescription("Authentications and scope checks, by outcome."))
	in.StoreDuration, _ = m.Float64Histogram(telemetry.MetricStoreDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of store calls, by store and operation."),
		metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
	v, _ := cache.LoadOrStore(p, in)
	return v.(*Instruments)
}

// Add returns the options of one measurement with the attributes kv, built
// once (at a guard's construction) so that counting allocates nothing.
func Add(kv ...attribute.KeyValue) []metric.AddOption {
	return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(kv...))}
}

// Record is [Add] for histograms.
func Record(kv ...attribute.KeyValue) []metric.RecordOption {
	return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(kv...))}
}

// StoreOp times one kind of store call (a store and an operation): the
// apiguard.store.duration histogram and, when the request's span is
// recording, a child span named "apiguard.store <operation>". Build one per
// operation at a guard's construction with [Instruments.StoreOp].
type StoreOp struct {
	in   *Instruments
	opts []metric.RecordOption
	name string
	attr []trace.SpanStartOption
}

// StoreOp returns the timer of operation op on the store named store
// ("memory", "redis", "postgres", or the name a custom store reports).
func (in *Instruments) StoreOp(store, op string) *StoreOp {
	return &StoreOp{
		in:   in,
		opts: Record(telemetry.AttrStore.String(store), telemetry.AttrStoreOperation.String(op)),
		name: "apiguard.store " + op,
		attr: []trace.SpanStartOption{
			trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(telemetry.AttrStore.String(store), telemetry.AttrStoreOperation.String(op)),
		},
	}
}

// StoreCall is one running store call; end it with End.
type StoreCall struct {
	op    *StoreOp
	ctx   context.Context
	start time.Time
	span  trace.Span
}

// Begin starts a store call. It returns the context to pass to the store
// (carrying the child span when one was started) and the call to End. With
// no SDK installed it starts no span, reads no clock and allocates nothing.
func (o *StoreOp) Begin(ctx context.Context) (context.Context, StoreCall) {
	c := StoreCall{op: o, ctx: ctx}
	if o.in.StoreDuration.Enabled(ctx) {
		c.start = time.Now()
	}
	if trace.SpanFromContext(ctx).IsRecording() {
		ctx, c.span = o.in.Tracer.Start(ctx, o.name, o.attr...)
	}
	return ctx, c
}

// End records the call's duration and ends its span, marked as an error
// when err is not nil (the error's text is not recorded: it may name
// infrastructure).
func (c StoreCall) End(err error) {
	if !c.start.IsZero() {
		c.op.in.StoreDuration.Record(c.ctx, time.Since(c.start).Seconds(), c.op.opts...)
	}
	if c.span != nil {
		if err != nil {
			c.span.SetStatus(codes.Error, "store call failed")
		}
		c.span.End()
	}
}

// StoreName returns the name of store s for the apiguard.store attribute:
// what its Name method returns when it has one (the built-in stores say
// "memory", "redis", "postgres"), else "custom".
func StoreName(s any) string {
	if n, ok := s.(interface{ Name() string }); ok {
		if name := n.Name(); name != "" && len(name) <= 32 {
			return name
		}
	}
	return "custom"
}
