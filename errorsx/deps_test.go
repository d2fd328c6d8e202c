package errorsx_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependenciesPointOneWay: errorsx imports no web framework and no
// validator, and a user of client compiles nothing of apiguard but errorsx
// and telemetry (the renderer counts errors through the OpenTelemetry API;
// never its SDK, an exporter or a Prometheus client), checked with go list
// -deps, as a user's build sees it.
func TestDependenciesPointOneWay(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH")
	}
	deps := func(pkg string) []string {
		out, err := exec.Command(gobin, "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		return strings.Fields(string(out))
	}
	forbidden := []string{"github.com/labstack/", "github.com/go-playground/", "github.com/redis/", "github.com/jackc/",
		"go.opentelemetry.io/otel/sdk", "go.opentelemetry.io/otel/exporters", "github.com/prometheus/"}
	for _, pkg := range []string{"github.com/clipia/apiguard/errorsx", "github.com/clipia/apiguard/client"} {
		for _, d := range deps(pkg) {
			for _, f := range forbidden {
				if strings.HasPrefix(d, f) {
					t.Errorf("%s depends on %s", pkg, d)
				}
			}
			if strings.HasPrefix(d, "github.com/clipia/apiguard/") && d != pkg &&
				d != "github.com/clipia/apiguard/errorsx" && d != "github.com/clipia/apiguard/telemetry" &&
				d != "github.com/clipia/apiguard/internal/instrument" &&
				d != "github.com/clipia/apiguard/internal/validmap" &&
				d != "github.com/clipia/apiguard/internal/headerval" {
				t.Errorf("%s depends on %s; want errorsx, telemetry, internal/instrument, internal/validmap and internal/headerval only", pkg, d)
			}
		}
	}
}
