package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/internal/alloctest"
	"github.com/clipia/apiguard/internal/telemetrytest"
	"github.com/clipia/apiguard/principal"
	"github.com/clipia/apiguard/telemetry"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

func keyRequest(ctx context.Context, authorization string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/v1/models", nil).WithContext(ctx)
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	return r
}

// TestAuthCountsOutcomes: every authentication is counted once under its
// outcome, scope refusals under theirs, skipped requests and passing scope
// checks not at all; key lookups are timed under store "memory".
func TestAuthCountsOutcomes(t *testing.T) {
	sdk := telemetrytest.New(t)
	a := must(auth.New(auth.Config{
		Store:     must(auth.NewMemoryKeyStore(authDemoKeys())),
		Skip:      func(r *http.Request) bool { return r.URL.Path == "/healthz" },
		Telemetry: sdk.Config(),
	}))
	sc := must(auth.NewScopes(auth.ScopeConfig{All: []string{"generations:write"}, Telemetry: sdk.Config()}))
	ctx := context.Background()
	for _, h := range []string{"Bearer sk_test_full", "Bearer sk_test_full", "Bearer sk_test_readonly"} {
		p, err := a.Authenticate(keyRequest(ctx, h))
		if err != nil {
			t.Fatal(err)
		}
		_ = sc.Check(principal.NewContext(ctx, p)) // full passes, readonly is refused
	}
	for _, h := range []string{"", "Basic x", "Bearer sk_test_nope", "Bearer sk_test_revoked"} {
		if _, err := a.Authenticate(keyRequest(ctx, h)); err == nil {
			t.Fatalf("%q accepted", h)
		}
	}
	skipped := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	if p, err := a.Authenticate(skipped); p != nil || err != nil {
		t.Fatal("skip did not skip")
	}
	_ = sc.Check(ctx) // no principal: 401

	got := sdk.Counts(t, telemetry.MetricAuthRequests, telemetry.AttrAuthOutcome)
	want := map[string]int64{"ok": 3, "invalid_key": 5, "insufficient_scope": 1}
	if len(got) != len(want) {
		t.Errorf("outcomes %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("apiguard.auth.requests{outcome=%s} = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
	// Lookups: the three accepted keys, the unknown and the revoked one;
	// the malformed and missing keys never reach the store.
	lookups := sdk.Counts(t, telemetry.MetricStoreDuration, telemetry.AttrStore, telemetry.AttrStoreOperation)
	if lookups["memory"] != 5 || len(lookups) != 1 {
		t.Errorf("store lookups %v, want memory=5", lookups)
	}
	for _, p := range sdk.Collect(t, telemetry.MetricStoreDuration) {
		if op, _ := p.Attrs.Value(telemetry.AttrStoreOperation); op.AsString() != "lookup" {
			t.Errorf("store operation %q, want lookup", op.AsString())
		}
	}
}

// TestAuthStoreFailureSpan: under a recording request span, a failing
// custom store is counted store_error, its lookup is a child span named
// "apiguard.store lookup" with store "custom" and status Error without the
// store's text, and the request span carries the outcome.
func TestAuthStoreFailureSpan(t *testing.T) {
	sdk := telemetrytest.New(t)
	down := auth.KeyStoreFunc(func(context.Context, string) (*principal.Principal, error) {
		return nil, errors.New("dial tcp 10.0.0.7:5432: connection refused")
	})
	a := must(auth.New(auth.Config{Store: down, Telemetry: sdk.Config()}))
	ctx, span := sdk.Start(context.Background())
	if _, err := a.Authenticate(keyRequest(ctx, "Bearer sk_live_secret")); err == nil {
		t.Fatal("store failure accepted")
	}
	span.End()
	if got := sdk.Counts(t, telemetry.MetricAuthRequests, telemetry.AttrAuthOutcome); got["store_error"] != 1 || len(got) != 1 {
		t.Errorf("outcomes %v, want store_error=1", got)
	}
	ended := sdk.Spans.Ended()
	if len(ended) != 2 {
		t.Fatalf("%d spans, want the lookup and the request", len(ended))
	}
	lookup, req := ended[0], ended[1]
	if lookup.Name() != "apiguard.store lookup" || lookup.Parent().SpanID() != req.SpanContext().SpanID() {
		t.Errorf("lookup span %q with parent %v, want apiguard.store lookup under the request", lookup.Name(), lookup.Parent().SpanID())
	}
	if v, _ := telemetrytest.Attr(lookup, telemetry.AttrStore); v.AsString() != "custom" {
		t.Errorf("lookup span store %q, want custom", v.AsString())
	}
	if lookup.Status().Code != codes.Error || strings.Contains(lookup.Status().Description, "10.0.0.7") {
		t.Errorf("lookup span status %v, want Error without the store's text", lookup.Status())
	}
	if v, _ := telemetrytest.Attr(req, telemetry.AttrAuthOutcome); v.AsString() != "store_error" {
		t.Errorf("request span outcome %q, want store_error", v.AsString())
	}
	for _, s := range ended {
		for _, kv := range s.Attributes() {
			if strings.Contains(kv.Value.String(), "sk_live_secret") {
				t.Errorf("span %s carries the key in %s", s.Name(), kv.Key)
			}
		}
	}
}

// TestAuthAllocatesNothingWithoutSDK: with the default (no-op) providers,
// accepting a key, rejecting one and checking scopes allocate nothing, as
// before telemetry.
func TestAuthAllocatesNothingWithoutSDK(t *testing.T) {
	a := must(auth.New(auth.Config{Store: must(auth.NewMemoryKeyStore(authDemoKeys()))}))
	sc := must(auth.RequireScopes("generations:write"))
	ctx := context.Background()
	full := principal.NewContext(ctx, &principal.Principal{KeyID: "k", Scopes: []string{"generations:write"}})
	none := principal.NewContext(ctx, &principal.Principal{KeyID: "k"})
	for name, r := range map[string]*http.Request{
		"accept":  keyRequest(ctx, "Bearer sk_test_full"),
		"unknown": keyRequest(ctx, "Bearer sk_test_nope"),
		"missing": keyRequest(ctx, ""),
	} {
		if n := alloctest.PerRun(500, func() { _, _ = a.Authenticate(r) }); n != 0 {
			t.Errorf("Authenticate %s: %v allocations, want 0", name, n)
		}
	}
	for name, c := range map[string]context.Context{"pass": full, "refuse": none, "no principal": ctx} {
		if n := alloctest.PerRun(500, func() { _ = sc.Check(c) }); n != 0 {
			t.Errorf("Check %s: %v allocations, want 0", name, n)
		}
	}
}

// BenchmarkAuthenticateTelemetry is BenchmarkAuthenticate's accepted key
// without an SDK (the default), with the SDK counting and timing the
// lookup, and with the SDK and a recording request span (a child span per
// lookup).
func BenchmarkAuthenticateTelemetry(b *testing.B) {
	sdk := telemetrytest.New(b)
	for _, bc := range []struct {
		name  string
		tc    telemetry.Config
		trace bool
	}{
		{"no-sdk", telemetry.Config{}, false},
		{"sdk-metrics", sdk.Config(), false},
		{"sdk-metrics+span", sdk.Config(), true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			a := must(auth.New(auth.Config{Store: must(auth.NewMemoryKeyStore(authDemoKeys())), Telemetry: bc.tc}))
			ctx := context.Background()
			if bc.trace {
				var span interface{ End(...trace.SpanEndOption) }
				ctx, span = sdk.Start(ctx)
				defer span.End()
			}
			req := keyRequest(ctx, "Bearer sk_test_full")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.Authenticate(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
