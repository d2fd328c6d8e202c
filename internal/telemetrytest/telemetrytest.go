// Package telemetrytest installs the OpenTelemetry SDK for one test: a
// meter provider on a ManualReader and a tracer provider on a
// SpanRecorder, so that a test reads the values apiguard counted and the
// spans it annotated. It is imported by tests only; no library package
// compiles the SDK.
package telemetrytest

import (
	"context"
	"testing"

	"github.com/clipia/apiguard/telemetry"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// SDK is one test's providers.
type SDK struct {
	Reader *sdkmetric.ManualReader
	Meter  *sdkmetric.MeterProvider
	Spans  *tracetest.SpanRecorder
	Tracer *sdktrace.TracerProvider
}

// New returns fresh providers, shut down when t ends.
func New(t testing.TB) *SDK {
	s := &SDK{Reader: sdkmetric.NewManualReader(), Spans: tracetest.NewSpanRecorder()}
	s.Meter = sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.Reader))
	s.Tracer = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.Spans))
	t.Cleanup(func() {
		_ = s.Meter.Shutdown(context.Background())
		_ = s.Tracer.Shutdown(context.Background())
	})
	return s
}

// Config is the telemetry.Config of these providers.
func (s *SDK) Config() telemetry.Config {
	return telemetry.Config{MeterProvider: s.Meter, TracerProvider: s.Tracer}
}

// Start starts a recording span, as an HTTP server's instrumentation
// would for a request, and returns its context.
func (s *SDK) Start(ctx context.Context) (context.Context, trace.Span) {
	return s.Tracer.Tracer("test").Start(ctx, "request", trace.WithSpanKind(trace.SpanKindServer))
}

// Point is one data point of a metric: its attributes and its value (the
// sum of a counter, the count of a histogram).
type Point struct {
	Attrs attribute.Set
	Value int64
}

// Collect returns every data point of the metric named name.
func (s *SDK) Collect(t testing.TB, name string) []Point {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := s.Reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var out []Point
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != telemetry.ScopeName {
			continue
		}
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out = append(out, Point{Attrs: p.Attributes, Value: p.Value})
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out = append(out, Point{Attrs: p.Attributes, Value: int64(p.Count)})
				}
			default:
				t.Fatalf("metric %s has data %T", name, m.Data)
			}
		}
	}
	return out
}

// Counts returns the values of the metric named name by the value of the
// attribute key, failing t when a point lacks the attribute or carries an
// attribute outside allowed (key itself is always allowed).
func (s *SDK) Counts(t testing.TB, name string, key attribute.Key, allowed ...attribute.Key) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, p := range s.Collect(t, name) {
		for _, kv := range p.Attrs.ToSlice() {
			ok := kv.Key == key
			for _, a := range allowed {
				ok = ok || kv.Key == a
			}
			if !ok {
				t.Errorf("%s carries attribute %s=%s, not part of its contract", name, kv.Key, kv.Value.String())
			}
		}
		v, ok := p.Attrs.Value(key)
		if !ok {
			t.Errorf("%s point %v lacks %s", name, p.Attrs.ToSlice(), key)
			continue
		}
		out[v.String()] += p.Value
	}
	return out
}

// Attr returns the value of attribute key of span, and whether it is set.
func Attr(span sdktrace.ReadOnlySpan, key attribute.Key) (attribute.Value, bool) {
	for _, kv := range span.Attributes() {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}
