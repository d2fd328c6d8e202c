package bind_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies: bind imports no web framework, and of apiguard only
// errorsx (with the telemetry it counts errors through), guard (the
// contract it implements), openapi (which it describes itself in), the body reader and internal/validmap (where it
// registers its validator mapper for the doors), checked with go list
// -deps, as a user's build sees it.
func TestDependencies(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH")
	}
	const pkg = "github.com/clipia/apiguard/bind"
	out, err := exec.Command(gobin, "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	allowed := map[string]bool{
		pkg:                                  true,
		"github.com/clipia/apiguard/errorsx": true,
		"github.com/clipia/apiguard/guard":   true,
		"github.com/clipia/apiguard/internal/bodyread":   true,
		"github.com/clipia/apiguard/telemetry":           true,
		"github.com/clipia/apiguard/internal/instrument": true,
		"github.com/clipia/apiguard/openapi":             true, // what it describes
		"github.com/clipia/apiguard/internal/pattern":    true, // guard.Template's spelling
		"github.com/clipia/apiguard/internal/reqctx":     true, // the request's values
		"github.com/clipia/apiguard/internal/headerval":  true, // errorsx's request id header
		"github.com/clipia/apiguard/internal/validmap":   true, // errorsx.From's hook
	}
	sawValidator := false
	for _, d := range strings.Fields(string(out)) {
		switch {
		case strings.HasPrefix(d, "github.com/labstack/"), strings.HasPrefix(d, "github.com/redis/"):
			t.Errorf("%s depends on %s", pkg, d)
		case strings.HasPrefix(d, "github.com/clipia/apiguard/") && !allowed[d]:
			t.Errorf("%s depends on %s; want errorsx, telemetry, guard, openapi, internal/bodyread, internal/pattern, internal/reqctx and internal/validmap only", pkg, d)
		case d == "github.com/go-playground/validator/v10":
			sawValidator = true
		}
	}
	if !sawValidator {
		t.Errorf("%s does not list the validator among its dependencies: is go list's output read right?", pkg)
	}
}
