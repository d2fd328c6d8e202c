package auth_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestAuthImportsNoFramework: auth is core. Of apiguard it depends on
// principal and errorsx only, and on no web framework or validator.
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
		"github.com/clipia/apiguard/auth":      true,
		"github.com/clipia/apiguard/principal": true,
		"github.com/clipia/apiguard/errorsx":   true,
	}
	seen := 0
	for _, pkg := range strings.Fields(string(out)) {
		seen++
		switch {
		case strings.HasPrefix(pkg, "github.com/clipia/apiguard/") && !ours[pkg],
			strings.HasPrefix(pkg, "github.com/labstack/"),
			strings.HasPrefix(pkg, "github.com/go-playground/"):
			t.Errorf("auth depends on %s; want apiguard's principal and errorsx only, no framework or validator", pkg)
		}
	}
	if seen == 0 {
		t.Fatal("go list listed nothing; want auth itself at least")
	}
}
