package errorsx_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/telemetrytest"
	"github.com/clipia/apiguard/telemetry"
	"go.opentelemetry.io/otel/codes"
)

// TestRendererCountsEveryRow: each of the eleven rows rendered n times
// (n = its index + 1) is counted n times under its status and code, and
// nothing else is counted.
func TestRendererCountsEveryRow(t *testing.T) {
	sdk := telemetrytest.New(t)
	rd := errorsx.NewRenderer(errorsx.HandlerConfig{Logger: discardLogger(), Telemetry: sdk.Config()})
	rows := errorsx.Rows()
	for i, row := range rows {
		for range i + 1 {
			rd.Write(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil), "/x", errorsx.New(row.Code))
		}
	}
	// Errors that are not *Error count as the row they render as.
	rd.Write(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil), "/x", errors.New("boom"))
	// An error rendered early is counted once, not again by the front
	// door's second call; a nil error writes and counts nothing.
	early := errorsx.InsufficientCredits()
	rd.Write(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil), "/x", early)
	rd.Write(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil), "/x", nil)
	rd.Committed(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil), "/x", 200, errorsx.Rendered(early))

	byCode := sdk.Counts(t, telemetry.MetricErrors, telemetry.AttrErrorCode, telemetry.AttrStatusCode)
	byStatus := sdk.Counts(t, telemetry.MetricErrors, telemetry.AttrStatusCode, telemetry.AttrErrorCode)
	wantStatus := map[string]int64{}
	for i, row := range rows {
		want := int64(i + 1)
		switch row.Code {
		case errorsx.CodeInternal:
			want++ // errors.New("boom")
		case errorsx.CodeInsufficientCredits:
			want++ // rendered early
		}
		if byCode[string(row.Code)] != want {
			t.Errorf("apiguard.errors{code=%s} = %d, want %d", row.Code, byCode[string(row.Code)], want)
		}
		wantStatus[strconv.Itoa(row.Status)] += want
	}
	if len(byCode) != len(rows) {
		t.Errorf("codes counted %v, want the %d rows only", byCode, len(rows))
	}
	for s, n := range wantStatus {
		if byStatus[s] != n {
			t.Errorf("apiguard.errors{status=%s} = %d, want %d", s, byStatus[s], n)
		}
	}
	// Each point pairs a status with its own row's code.
	for _, p := range sdk.Collect(t, telemetry.MetricErrors) {
		code, _ := p.Attrs.Value(telemetry.AttrErrorCode)
		status, _ := p.Attrs.Value(telemetry.AttrStatusCode)
		row, ok := errorsx.Lookup(errorsx.Code(code.AsString()))
		if !ok || int64(row.Status) != status.AsInt64() {
			t.Errorf("point %v pairs a code with another row's status", p.Attrs.ToSlice())
		}
	}
}

// TestRendererAnnotatesSpan: the request's recording span gets the error
// code; a 5xx also sets its status to Error, described by the code alone
// (the cause never reaches the span); a 4xx leaves the status unset.
func TestRendererAnnotatesSpan(t *testing.T) {
	sdk := telemetrytest.New(t)
	rd := errorsx.NewRenderer(errorsx.HandlerConfig{Logger: discardLogger(), Telemetry: sdk.Config()})
	for _, tc := range []struct {
		err        error
		code       string
		wantStatus codes.Code
	}{
		{errorsx.RateLimitExceeded(), "rate_limit_exceeded", codes.Unset},
		{errorsx.Internal().WithCause(errors.New("dial tcp 10.1.2.3:5432: secret-host refused")), "internal_error", codes.Error},
		{fmt.Errorf("redis at 10.9.9.9: %w", errorsx.ServiceUnavailable()), "service_unavailable", codes.Error},
	} {
		ctx, span := sdk.Start(t.Context())
		req := httptest.NewRequest(http.MethodGet, "/x", nil).WithContext(ctx)
		rd.Write(httptest.NewRecorder(), req, "/x", tc.err)
		span.End()
		ended := sdk.Spans.Ended()
		got := ended[len(ended)-1]
		if v, ok := telemetrytest.Attr(got, telemetry.AttrErrorCode); !ok || v.AsString() != tc.code {
			t.Errorf("%s: span attribute apiguard.error.code = %v (set %v), want %s", tc.code, v.String(), ok, tc.code)
		}
		if got.Status().Code != tc.wantStatus {
			t.Errorf("%s: span status %v, want %v", tc.code, got.Status().Code, tc.wantStatus)
		}
		if tc.wantStatus == codes.Error && got.Status().Description != tc.code {
			t.Errorf("%s: span status description %q, want the code alone", tc.code, got.Status().Description)
		}
		if len(got.Events()) != 0 {
			t.Errorf("%s: span events %v, want none (no error text on the span)", tc.code, got.Events())
		}
	}
	// The renderer starts no span of its own.
	if n := len(sdk.Spans.Ended()); n != 3 {
		t.Errorf("%d spans ended, want the 3 request spans only", n)
	}
}

// BenchmarkRenderTelemetry is the renderer's 404 without an SDK (the
// default), with the SDK counting, and with the SDK and a recording
// request span: the cost of telemetry per rendered error.
func BenchmarkRenderTelemetry(b *testing.B) {
	sdk := telemetrytest.New(b)
	for _, bc := range []struct {
		name  string
		cfg   errorsx.HandlerConfig
		trace bool
	}{
		{"no-sdk", errorsx.HandlerConfig{Logger: discardLogger()}, false},
		{"sdk-metrics", errorsx.HandlerConfig{Logger: discardLogger(), Telemetry: sdk.Config()}, false},
		{"sdk-metrics+span", errorsx.HandlerConfig{Logger: discardLogger(), Telemetry: sdk.Config()}, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rd := errorsx.NewRenderer(bc.cfg)
			req := benchRequest()
			if bc.trace {
				ctx, span := sdk.Start(req.Context())
				defer span.End()
				req = req.WithContext(ctx)
			}
			w := &discardWriter{h: make(http.Header)}
			err := errorsx.NotFound()
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				w.h[errorsx.HeaderRequestID] = presetID
				rd.Write(w, req, "/v1/models/:id", err)
			}
		})
	}
}
