package principal_test

import (
	"os/exec"
	"strings"
	"testing"
)

// goList runs "go list" in the module root with args and returns its
// output lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found:", err)
	}
	cmd := exec.Command(goBin, append([]string{"list"}, args...)...)
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestGuardsDoNotImportADoor: the rate limiter and the idempotency guard
// (and their stores) read the caller from this package and speak the one
// guard contract (package guard), so they depend on no front door
// (middleware/...) and no web framework.
func TestGuardsDoNotImportADoor(t *testing.T) {
	forbidden := []string{"github.com/clipia/apiguard/middleware", "github.com/labstack/", "github.com/gin-gonic/", "github.com/go-chi/"}
	lines := goList(t, "-f", "{{.ImportPath}} {{join .Deps \" \"}}",
		"github.com/clipia/apiguard/ratelimit/...", "github.com/clipia/apiguard/idempotency/...")
	seen := 0
	for _, line := range lines {
		pkg, deps, _ := strings.Cut(line, " ")
		seen++
		for _, d := range strings.Fields(deps) {
			for _, f := range forbidden {
				if strings.HasPrefix(d, f) {
					t.Errorf("%s depends on %s", pkg, d)
				}
			}
		}
	}
	if seen < 2 {
		t.Fatalf("go list listed %d packages, want ratelimit and idempotency at least", seen)
	}
}

// TestPrincipalStandardLibraryOnly: any front door or guard can import
// principal without pulling in a web framework or anything else.
func TestPrincipalStandardLibraryOnly(t *testing.T) {
	const self = "github.com/clipia/apiguard/principal"
	lines := goList(t, "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", self)
	for _, pkg := range lines {
		if pkg != "" && pkg != self {
			t.Errorf("principal depends on non-standard package %s", pkg)
		}
	}
}
