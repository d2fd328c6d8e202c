package telemetry_test

import (
	"os/exec"
	"strings"
	"testing"
)

// libraryPackages are the packages an application imports.
var libraryPackages = []string{
	"auth", "bind", "client", "errorsx", "guard", "idempotency", "idempotency/pgstore",
	"idempotency/redisstore", "middleware/chi5", "middleware/echo4", "middleware/echo5", "middleware/gin1",
	"middleware/nethttp", "principal", "ratelimit",
	"ratelimit/redisstore", "telemetry",
}

// sdkOnly are what only an application (the reference server, tests) may
// compile: the OpenTelemetry SDK, its exporters, a Prometheus client.
var sdkOnly = []string{"go.opentelemetry.io/otel/sdk", "go.opentelemetry.io/otel/exporters/", "github.com/prometheus/"}

// deps lists what pkgs compile, together.
func deps(t *testing.T, pkgs ...string) []string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH")
	}
	args := []string{"list", "-deps"}
	for _, p := range pkgs {
		args = append(args, "github.com/clipia/apiguard/"+p)
	}
	out, err := exec.Command(gobin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %v: %v\n%s", pkgs, err, out)
	}
	return strings.Fields(string(out))
}

// TestLibraryUsesTheAPIOnly: no library package compiles the OpenTelemetry
// SDK, an exporter or a Prometheus client (checked with go list -deps, as a
// user's build sees it); the reference server does, which shows the check
// can fail.
func TestLibraryUsesTheAPIOnly(t *testing.T) {
	for _, d := range deps(t, libraryPackages...) {
		for _, f := range sdkOnly {
			if strings.HasPrefix(d, f) {
				t.Errorf("a library package compiles %s; the library depends on the OpenTelemetry API only (go list -deps names which)", d)
			}
		}
	}
	found := 0
	for _, d := range deps(t, "examples/server/app") {
		if d == "go.opentelemetry.io/otel/sdk/metric" || d == "go.opentelemetry.io/otel/exporters/prometheus" {
			found++
		}
	}
	if found != 2 {
		t.Errorf("the reference server does not list the SDK and the exporter: is go list's output read right?")
	}
}
