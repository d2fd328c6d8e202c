package ratelimit_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/clipia/apiguard/internal/alloctest"
	"github.com/clipia/apiguard/principal"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/storetest"
	"github.com/clipia/apiguard/telemetry"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Every decision is counted with its policy and outcome, every store call
// timed, and a recording request span annotated.
func TestTelemetryValues(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	clock := &storetest.Clock{}
	store := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{Now: clock.Now})
	defer store.Close()
	l, err := ratelimit.New(ratelimit.Config{
		Policies: []ratelimit.Policy{
			ratelimit.PerSecond("burst", 1, 2),
			{Name: "trial", Rate: 1, Period: time.Minute, Burst: 3, Shadow: true},
		},
		Plans:        map[string][]ratelimit.Policy{"pro": {ratelimit.PerSecond("pro", 100, 100)}},
		Store:        store,
		DeferredCost: true,
		Logger:       slog.New(slog.DiscardHandler),
		Telemetry:    telemetry.Config{MeterProvider: mp, TracerProvider: tp},
	})
	if err != nil {
		t.Fatal(err)
	}
	do := func(plan string, addCost int64) {
		ctx, span := tp.Tracer("test").Start(context.Background(), "request")
		defer span.End()
		r := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
		if plan != "" {
			r = r.WithContext(principal.NewContext(ctx, &principal.Principal{KeyID: "k_" + plan, Metadata: map[string]string{"plan": plan}}))
		}
		r, d, err := l.Begin(httptest.NewRecorder(), r, "/")
		if err == nil {
			ratelimit.AddCost(r.Context(), addCost)
			d.End()
		}
	}
	do("", 0) // allowed: burst r=1, trial r=2 → burst reported
	do("", 0) // allowed: burst r=0
	do("", 0) // limited by burst
	clock.Advance(2 * time.Second)
	do("", 0)     // allowed: burst 1 left, trial 0 left → trial reported
	do("", 0)     // shadow_limited by trial
	do("pro", 5)  // allowed, then charged 5
	do("gold", 0) // error: unknown plan, counted on the default plan's first policy

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	decisions := map[string]int64{}
	stores := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case telemetry.MetricRateLimitDecisions:
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					p, _ := dp.Attributes.Value(telemetry.AttrRateLimitPolicy)
					o, _ := dp.Attributes.Value(telemetry.AttrRateLimitOutcome)
					decisions[p.AsString()+"|"+o.AsString()] += dp.Value
					if dp.Attributes.Len() != 2 {
						t.Errorf("decision attributes %v, want policy and outcome only", dp.Attributes.ToSlice())
					}
				}
			case telemetry.MetricStoreDuration:
				for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
					s, _ := dp.Attributes.Value(telemetry.AttrStore)
					op, _ := dp.Attributes.Value(telemetry.AttrStoreOperation)
					stores[s.AsString()+"|"+op.AsString()] += dp.Count
				}
			}
		}
	}
	want := map[string]int64{
		"burst|allowed": 2, "burst|limited": 1, "burst|error": 1,
		"trial|allowed": 1, "trial|shadow_limited": 1,
		"pro|allowed": 1,
	}
	if len(decisions) != len(want) {
		t.Errorf("decisions %v, want %v", decisions, want)
	}
	for k, v := range want {
		if decisions[k] != v {
			t.Errorf("decisions[%s] = %d, want %d (all: %v)", k, decisions[k], v, decisions)
		}
	}
	// Takes: 5 requests of the default plan (each enforced, and the 4 that
	// passed also their shadow policy) + 1 of pro; one charge.
	if stores["memory|take"] != 5+4+1 || stores["memory|charge"] != 1 || len(stores) != 2 {
		t.Errorf("store calls %v, want memory|take 10, memory|charge 1", stores)
	}

	var outcomes []string
	var storeSpans int
	for _, s := range spans.Ended() {
		if s.Name() == "apiguard.store take" || s.Name() == "apiguard.store charge" {
			storeSpans++
			continue
		}
		attrs := attribute.NewSet(s.Attributes()...)
		o, _ := attrs.Value(telemetry.AttrRateLimitOutcome)
		outcomes = append(outcomes, o.AsString())
		if rem, ok := attrs.Value(telemetry.AttrRateLimitRemaining); len(outcomes) == 1 && (!ok || rem.AsInt64() != 1) {
			t.Errorf("first request span: remaining %v (%v), want 1", rem, ok)
		}
	}
	wantOutcomes := []string{"allowed", "allowed", "limited", "allowed", "shadow_limited", "allowed", "error"}
	if len(outcomes) != len(wantOutcomes) {
		t.Fatalf("request span outcomes %v, want %v", outcomes, wantOutcomes)
	}
	for i := range wantOutcomes {
		if outcomes[i] != wantOutcomes[i] {
			t.Errorf("request %d span outcome %q, want %q", i, outcomes[i], wantOutcomes[i])
		}
	}
	if storeSpans != 11 {
		t.Errorf("got %d store spans, want 11", storeSpans)
	}
}

// With the default no-op providers, telemetry, plans and shadow policies add
// no allocation: a decision allocates two things whatever the plan, the
// key ("key:" and the key id) and the RateLimit header's value (its string
// and slice in one allocation; RateLimit-Policy's is built once per plan).
func TestLimitAllocs(t *testing.T) {
	store := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{})
	defer store.Close()
	big := ratelimit.PerSecond("p", 1_000_000_000, 1_000_000_000)
	l, err := ratelimit.New(ratelimit.Config{
		Policies: []ratelimit.Policy{big},
		Plans: map[string][]ratelimit.Policy{
			"pro":    {ratelimit.PerSecond("pro", 1_000_000_000, 1_000_000_000)},
			"shadow": {big, {Name: "s", Rate: 1_000_000_000, Burst: 1_000_000_000, Shadow: true}},
		},
		Store: store,
	})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	for _, tc := range []struct {
		plan string
		want float64
	}{
		{"", 2},
		{"pro", 2},
		{"shadow", 2}, // two store calls, still no more
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.plan != "" {
			r = r.WithContext(principal.NewContext(r.Context(), &principal.Principal{KeyID: "k", Metadata: map[string]string{"plan": tc.plan}}))
		}
		if n := alloctest.PerRun(200, func() {
			if err := l.Limit(w, r, "/"); err != nil {
				t.Fatal(err)
			}
		}); n != tc.want {
			t.Errorf("plan %q: %v allocations per decision, want %v", tc.plan, n, tc.want)
		}
	}
}
