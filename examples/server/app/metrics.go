package app

import (
	"net/http"

	"github.com/clipia/apiguard/telemetry"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// metricsPath is where the app serves its metrics, without a key, like
// /healthz.
const metricsPath = "/metrics"

// metrics is the app's OpenTelemetry SDK: a meter provider whose reader is
// the Prometheus exporter, on a registry of the app's own (not Prometheus's
// process-wide default, so two apps in one process, as in the tests, never
// share counts). handler serves it in the Prometheus text format.
//
// This is what an application does to see apiguard's instruments; the
// library itself only calls the OpenTelemetry API (docs/observability.md).
// The provider has no background work (Prometheus pulls), so it needs no
// shutdown.
type metrics struct {
	provider *sdkmetric.MeterProvider
	handler  http.Handler
}

// newMetrics builds the SDK and the handler of GET /metrics.
func newMetrics() (*metrics, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, err
	}
	return &metrics{
		provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp),
			sdkmetric.WithResource(resource.NewSchemaless(attribute.String("service.name", "apiguard-reference-server")))),
		handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
	}, nil
}

// telemetry is the guards' telemetry.Config: metrics on the app's
// provider; traces on the global provider (a no-op: the reference server
// exports no traces).
func (m *metrics) telemetry() telemetry.Config {
	return telemetry.Config{MeterProvider: m.provider}
}
