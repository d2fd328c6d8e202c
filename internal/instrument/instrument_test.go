package instrument_test

import (
	"context"
	"errors"
	"testing"

	"github.com/clipia/apiguard/internal/alloctest"
	"github.com/clipia/apiguard/internal/instrument"
	"github.com/clipia/apiguard/telemetry"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestNoSDKAllocatesNothing: with the global (no-op) providers, counting
// and timing a store call allocate nothing.
func TestNoSDKAllocatesNothing(t *testing.T) {
	in := instrument.New(telemetry.Config{})
	opts := instrument.Add(telemetry.AttrAuthOutcome.String(telemetry.AuthOK))
	op := in.StoreOp("memory", "take")
	ctx := context.Background()
	allocs := alloctest.PerRun(1000, func() {
		in.AuthRequests.Add(ctx, 1, opts...)
		_, c := op.Begin(ctx)
		c.End(nil)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per call without an SDK, want 0", allocs)
	}
}

// TestSDKRecordsValues: with an SDK, the counter and the histogram carry
// the values and the bounded attributes, and a store call under a
// recording span becomes its child, marked as an error when it failed.
func TestSDKRecordsValues(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	in := instrument.New(telemetry.Config{MeterProvider: mp, TracerProvider: tp})
	if in != instrument.New(telemetry.Config{MeterProvider: mp, TracerProvider: tp}) {
		t.Fatal("instruments of one provider pair are not shared")
	}

	ok := instrument.Add(telemetry.AttrAuthOutcome.String(telemetry.AuthOK))
	bad := instrument.Add(telemetry.AttrAuthOutcome.String(telemetry.AuthInvalidKey))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	in.AuthRequests.Add(ctx, 1, ok...)
	in.AuthRequests.Add(ctx, 1, ok...)
	in.AuthRequests.Add(ctx, 1, bad...)
	_, call := in.StoreOp("redis", "claim").Begin(ctx)
	call.End(errors.New("dial tcp 10.0.0.1:6379: refused"))
	parent.End()

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	var hist uint64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					v, _ := p.Attributes.Value(telemetry.AttrAuthOutcome)
					got[m.Name+"/"+v.AsString()] = p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					if s, _ := p.Attributes.Value(telemetry.AttrStore); s.AsString() == "redis" {
						hist += p.Count
					}
				}
			}
		}
	}
	if got["apiguard.auth.requests/ok"] != 2 || got["apiguard.auth.requests/invalid_key"] != 1 {
		t.Errorf("auth counts %v, want ok=2 invalid_key=1", got)
	}
	if hist != 1 {
		t.Errorf("store duration count %d, want 1", hist)
	}
	ended := spans.Ended()
	if len(ended) != 2 || ended[0].Name() != "apiguard.store claim" || ended[0].Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("spans %v, want the store call as the request's child", ended)
	}
	if ended[0].Status().Code.String() != "Error" || ended[0].Status().Description != "store call failed" {
		t.Errorf("store span status %v, want an error without the cause's text", ended[0].Status())
	}
	for _, a := range ended[0].Attributes() {
		if a.Key == attribute.Key("apiguard.store") && a.Value.AsString() != "redis" {
			t.Errorf("span store attribute %v", a.Value)
		}
	}
}
