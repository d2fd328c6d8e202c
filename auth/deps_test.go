package auth_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestAuthImportsNoFramework: auth is core. Of apiguard it depends on
// guard (the contract it implements), principal, errorsx and telemetry
// only, and on no web framework, no
// validator, and of OpenTelemetry on the API only.
func TestAuthImportsNoFramework(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found:", err)
	}
	cmd := exec.Command(goBin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "github.com/clipia/apiguard/auth")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	ours := map[string]bool{
		"github.com/clipia/apiguard/auth":                true,
		"github.com/clipia/apiguard/guard":               true,
		"github.com/clipia/apiguard/principal":           true,
		"github.com/clipia/apiguard/errorsx":             true,
		"github.com/clipia/apiguard/telemetry":           true,
		"github.com/clipia/apiguard/internal/instrument": true,
		"github.com/clipia/apiguard/openapi":             true, // what it describes itself in
		"github.com/clipia/apiguard/internal/pattern":    true,
		"github.com/clipia/apiguard/internal/reqctx":     true, // the request's values
		"github.com/clipia/apiguard/internal/headerval":  true, // errorsx's request id header
		"github.com/clipia/apiguard/internal/validmap":   true, // errorsx.From's hook
	}
	seen := 0
	for _, pkg := range strings.Fields(string(out)) {
		seen++
		switch {
		case strings.HasPrefix(pkg, "github.com/clipia/apiguard/") && !ours[pkg],
			strings.HasPrefix(pkg, "github.com/labstack/"),
			strings.HasPrefix(pkg, "github.com/go-playground/"),
			strings.HasPrefix(pkg, "go.opentelemetry.io/otel/sdk"),
			strings.HasPrefix(pkg, "go.opentelemetry.io/otel/exporters"),
			strings.HasPrefix(pkg, "github.com/prometheus/"):
			t.Errorf("auth depends on %s; want apiguard's guard, principal, errorsx (with internal/validmap) and telemetry only, no framework, validator or OpenTelemetry SDK", pkg)
		}
	}
	if seen == 0 {
		t.Fatal("go list listed nothing; want auth itself at least")
	}
}
