package idempotency_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/pgstore"
	"github.com/clipia/apiguard/idempotency/redisstore"
	"github.com/clipia/apiguard/internal/doors"
	"github.com/clipia/apiguard/internal/idemtest"
	"github.com/clipia/apiguard/internal/instrument"
	"github.com/clipia/apiguard/internal/telemetrytest"
	"github.com/clipia/apiguard/telemetry"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// claimFails is a store whose claims fail, as an unreachable store's do.
type claimFails struct{ idempotency.Store }

func (claimFails) Claim(context.Context, string, string, time.Duration) (idempotency.ClaimResult, error) {
	return idempotency.ClaimResult{}, errors.New("dial tcp 10.0.0.9:6379: i/o timeout")
}

// commitRefused is a store that refuses every commit as a stale owner's:
// the response is lost for good.
type commitRefused struct{ idempotency.Store }

func (commitRefused) Commit(context.Context, string, string, idempotency.Response, time.Duration) error {
	return idempotency.ErrLeaseLost
}

func outcomes(t *testing.T, sdk *telemetrytest.SDK) map[string]int64 {
	t.Helper()
	return sdk.Counts(t, telemetry.MetricIdempotencyRequests, telemetry.AttrIdempotencyOutcome)
}

func checkCounts(t *testing.T, what string, got, want map[string]int64) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s %s = %d, want %d (all: %v)", what, k, got[k], v, got)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s %s = %d, want none (all: %v)", what, k, got[k], got)
		}
	}
}

// TestIdempotencyCountsOutcomes: each guarded request with a key is
// counted once under its outcome; requests the guard does not guard are
// not counted; every store call is timed under store "memory" and its
// operation.
func TestIdempotencyCountsOutcomes(t *testing.T) {
	sdk := telemetrytest.New(t)
	pending := new(idempotency.Pending)
	t.Cleanup(func() { waitPending(t, pending) })
	inHandler, proceed := make(chan struct{}), make(chan struct{})
	app := newApp(t, idempotency.Config{Store: newMemoryStore(t, idempotency.MemoryConfig{}), Telemetry: sdk.Config(), Pending: pending},
		func(w http.ResponseWriter, r *http.Request) error {
			switch r.Header.Get("X-Case") {
			case "fail":
				return errorsx.ServiceUnavailable()
			case "block":
				inHandler <- struct{}{}
				<-proceed
			}
			return created(w, `{"id":"gen_1"}`)
		})
	do(app, req{Key: "a", Body: `{"n":1}`})                                 // executed
	do(app, req{Key: "a", Body: `{"n":1}`})                                 // replayed
	do(app, req{Key: "a", Body: `{"n":2}`})                                 // key_reuse
	do(app, req{Key: "b", Headers: map[string]string{"X-Case": "fail"}})    // released
	do(app, req{})                                                          // no key: not guarded
	do(app, req{Method: http.MethodGet, Path: "/v1/generations", Key: "g"}) // GET: not guarded
	done := make(chan struct{})
	go func() { do(app, req{Key: "c", Headers: map[string]string{"X-Case": "block"}}); close(done) }() // executed
	<-inHandler
	do(app, req{Key: "c"}) // in_progress
	close(proceed)
	<-done
	waitPending(t, pending)

	checkCounts(t, "apiguard.idempotency.requests", outcomes(t, sdk), map[string]int64{
		"executed": 2, "replayed": 1, "key_reuse": 1, "released": 1, "in_progress": 1,
	})
	ops := sdk.Counts(t, telemetry.MetricStoreDuration, telemetry.AttrStoreOperation, telemetry.AttrStore)
	checkCounts(t, "store operations", ops, map[string]int64{"claim": 6, "commit": 2, "release": 1})
	if stores := sdk.Counts(t, telemetry.MetricStoreDuration, telemetry.AttrStore, telemetry.AttrStoreOperation); stores["memory"] != 9 || len(stores) != 1 {
		t.Errorf("stores %v, want memory=9", stores)
	}
}

// TestIdempotencyCountsStoreFailures: a claim that fails is store_error; a
// response the store refuses for good is lease_lost, counted once.
func TestIdempotencyCountsStoreFailures(t *testing.T) {
	sdk := telemetrytest.New(t)
	pending := new(idempotency.Pending)
	t.Cleanup(func() { waitPending(t, pending) })
	ok := func(w http.ResponseWriter, r *http.Request) error { return created(w, "x") }
	down := newApp(t, idempotency.Config{Store: claimFails{newMemoryStore(t, idempotency.MemoryConfig{})}, Telemetry: sdk.Config()}, ok)
	if rec := do(down, req{Key: "a"}); rec.Code != 503 {
		t.Fatalf("claim failure: got %d", rec.Code)
	}
	refused := newApp(t, idempotency.Config{Store: commitRefused{newMemoryStore(t, idempotency.MemoryConfig{})}, Telemetry: sdk.Config(), Pending: pending}, ok)
	if rec := do(refused, req{Key: "b"}); rec.Code != 201 {
		t.Fatalf("refused commit: got %d, want the client's 201", rec.Code)
	}
	waitPending(t, pending)
	checkCounts(t, "apiguard.idempotency.requests", outcomes(t, sdk), map[string]int64{"store_error": 1, "lease_lost": 1})
	if stores := sdk.Counts(t, telemetry.MetricStoreDuration, telemetry.AttrStore, telemetry.AttrStoreOperation); stores["custom"] == 0 || len(stores) != 1 {
		t.Errorf("stores %v, want custom only (the wrappers have no Name)", stores)
	}
}

// TestIdempotencyCountsTxOutcomes: with a TxStore, a committed transaction
// is executed, a failed Begin or commit store_error, a commit refused as a
// stale owner's lease_lost, a rolled-back retryable answer released; the
// calls are timed as begin, tx_commit and rollback.
func TestIdempotencyCountsTxOutcomes(t *testing.T) {
	sdk := telemetrytest.New(t)
	s := newTxDouble(t)
	app := newApp(t, idempotency.Config{Store: s, Telemetry: sdk.Config()}, func(w http.ResponseWriter, r *http.Request) error {
		if r.Header.Get("X-Case") == "fail" {
			return errorsx.ServiceUnavailable()
		}
		return created(w, "x")
	})
	do(app, req{Key: "ok"})                                                 // executed
	do(app, req{Key: "fail", Headers: map[string]string{"X-Case": "fail"}}) // released
	s.mu.Lock()
	s.beginErr = errors.New("pool exhausted")
	s.mu.Unlock()
	do(app, req{Key: "begin"}) // store_error
	s.mu.Lock()
	s.beginErr, s.commitErr = nil, errors.New("serialization failure")
	s.mu.Unlock()
	do(app, req{Key: "commit"}) // store_error
	s.mu.Lock()
	s.commitErr = idempotency.ErrLeaseLost
	s.mu.Unlock()
	do(app, req{Key: "lost"}) // lease_lost

	checkCounts(t, "apiguard.idempotency.requests", outcomes(t, sdk), map[string]int64{
		"executed": 1, "released": 1, "store_error": 2, "lease_lost": 1,
	})
	ops := sdk.Counts(t, telemetry.MetricStoreDuration, telemetry.AttrStoreOperation, telemetry.AttrStore)
	checkCounts(t, "store operations", ops, map[string]int64{
		"claim": 5, "begin": 5, "tx_commit": 3, "rollback": 3, "release": 4,
	})
}

// TestIdempotencySpans: under a recording request span, the guard's store
// calls are its children, a failed one marked Error without the store's
// text, and the request span carries the outcome; the guard starts no
// other span.
func TestIdempotencySpans(t *testing.T) {
	sdk := telemetrytest.New(t)
	pending := new(idempotency.Pending)
	t.Cleanup(func() { waitPending(t, pending) })
	app := newApp(t, idempotency.Config{Store: newMemoryStore(t, idempotency.MemoryConfig{}), Telemetry: sdk.Config(), Pending: pending},
		func(w http.ResponseWriter, r *http.Request) error { return created(w, "x") })
	down := newApp(t, idempotency.Config{Store: claimFails{newMemoryStore(t, idempotency.MemoryConfig{})}, Telemetry: sdk.Config()},
		func(w http.ResponseWriter, r *http.Request) error { return created(w, "x") })
	for _, tc := range []struct {
		app      http.Handler
		key      string
		outcome  string
		children []string
	}{
		{app, "k", "executed", []string{"apiguard.store claim", "apiguard.store commit"}},
		{app, "k", "replayed", []string{"apiguard.store claim"}},
		{down, "k", "store_error", []string{"apiguard.store claim"}},
	} {
		sdk.Spans.Reset()
		ctx, span := sdk.Start(context.Background())
		doCtx(tc.app, ctx, req{Key: tc.key})
		waitPending(t, pending)
		span.End()
		ended := sdk.Spans.Ended()
		if len(ended) != len(tc.children)+1 {
			t.Fatalf("%s: %d spans, want %d children and the request", tc.outcome, len(ended), len(tc.children))
		}
		reqSpan := ended[len(ended)-1]
		for i, name := range tc.children {
			c := ended[i]
			if c.Name() != name || c.Parent().SpanID() != reqSpan.SpanContext().SpanID() {
				t.Errorf("%s: child %d is %q under %v, want %q under the request", tc.outcome, i, c.Name(), c.Parent().SpanID(), name)
			}
			if tc.outcome == "store_error" && (c.Status().Code != codes.Error || strings.Contains(c.Status().Description, "10.0.0.9")) {
				t.Errorf("%s: child status %v, want Error without the store's text", tc.outcome, c.Status())
			}
			if tc.outcome != "store_error" && c.Status().Code == codes.Error {
				t.Errorf("%s: child %s marked Error", tc.outcome, c.Name())
			}
		}
		if v, _ := telemetrytest.Attr(reqSpan, telemetry.AttrIdempotencyOutcome); v.AsString() != tc.outcome {
			t.Errorf("request span outcome %q, want %q", v.AsString(), tc.outcome)
		}
	}
}

// TestStoreNames: the built-in stores name themselves for
// apiguard.store.
func TestStoreNames(t *testing.T) {
	for want, s := range map[string]any{
		"memory":   idempotency.NewMemoryStore(idempotency.MemoryConfig{}),
		"redis":    (*redisstore.Store)(nil),
		"postgres": (*pgstore.Store)(nil),
		"custom":   claimFails{},
	} {
		if got := instrument.StoreName(s); got != want {
			t.Errorf("StoreName(%T) = %q, want %q", s, got, want)
		}
	}
}

// BenchmarkGuardSDK is BenchmarkGuard/nethttp with the OpenTelemetry SDK
// counting and timing store calls (no recording span): compare the two for
// the cost of telemetry with an SDK installed.
func BenchmarkGuardSDK(b *testing.B) {
	sdk := telemetrytest.New(b)
	idemtest.BenchWith(b, func(cfg *idempotency.Config, h http.HandlerFunc) http.Handler {
		var gs []guard.Guard
		if cfg != nil {
			c := *cfg
			c.Telemetry = sdk.Config()
			gs = append(gs, guard.Must(idempotency.New(c)))
		}
		return doors.NetHTTP.New(b, doors.Spec{
			Errors: errorsx.HandlerConfig{Telemetry: sdk.Config()},
			Routes: []doors.Route{{Method: http.MethodPost, Path: "/v1/generations", Guards: gs,
				Handler: func(w http.ResponseWriter, r *http.Request, _ doors.Params) error { h(w, r); return nil }}},
		})
	})
}

// TestTxHandlerSeesTheRequestSpan: with a TxStore, the handler runs under
// the request's span (not under the ended span of the Begin call), so its
// own spans and the renderer's annotations land on the request.
func TestTxHandlerSeesTheRequestSpan(t *testing.T) {
	sdk := telemetrytest.New(t)
	var inHandler trace.SpanContext
	app := newApp(t, idempotency.Config{Store: newTxDouble(t), Telemetry: sdk.Config()}, func(w http.ResponseWriter, r *http.Request) error {
		inHandler = trace.SpanContextFromContext(r.Context())
		return created(w, "x")
	})
	ctx, span := sdk.Start(context.Background())
	doCtx(app, ctx, req{Key: "k"})
	span.End()
	if inHandler.SpanID() != span.SpanContext().SpanID() {
		t.Errorf("the handler's active span is %v, want the request's %v", inHandler.SpanID(), span.SpanContext().SpanID())
	}
	var names []string
	for _, s := range sdk.Spans.Ended() {
		names = append(names, s.Name())
	}
	if want := "apiguard.store claim,apiguard.store begin,apiguard.store tx_commit,request"; strings.Join(names, ",") != want {
		t.Errorf("spans %v, want %s", names, want)
	}
}
