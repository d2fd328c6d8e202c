// Package depcheck holds the test of apiguard's dependency promises: each
// user compiles only what they use. It has no code of its own.
package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/clipia/apiguard"

// promises: what each package (and its whole import graph) must never
// compile.
var promises = []struct {
	pkg    string
	forbid []string
	why    string
}{
	{"errorsx", []string{"github.com/labstack/", "github.com/go-playground/", mod + "/middleware"}, "the catalogue and renderer import no framework and no validator"},
	{"client", []string{"github.com/labstack/", "github.com/go-playground/", "github.com/redis/", "github.com/jackc/", mod + "/middleware", mod + "/bind"}, "a client imports only errorsx"},
	{"principal", []string{"github.com/labstack/", "github.com/go-playground/"}, "who is calling is framework-neutral"},
	{"auth", []string{"github.com/labstack/", "github.com/go-playground/"}, "auth is framework-neutral"},
	{"bind", []string{"github.com/labstack/"}, "bind is framework-neutral"},
	{"ratelimit", []string{"github.com/labstack/", mod + "/middleware"}, "the limiter is framework-neutral"},
	{"ratelimit/redisstore", []string{"github.com/labstack/"}, "stores are framework-neutral"},
	{"idempotency", []string{"github.com/labstack/", mod + "/middleware"}, "the idempotency guard is framework-neutral"},
	{"idempotency/redisstore", []string{"github.com/labstack/"}, "stores are framework-neutral"},
	{"idempotency/pgstore", []string{"github.com/labstack/", "github.com/redis/"}, "stores are framework-neutral"},
	{"nethttp", []string{"github.com/labstack/"}, "a net/http program compiles no Echo"},
	{"examples/nethttp", []string{"github.com/labstack/"}, "the README's net/http program compiles no Echo"},
	{"middleware", []string{"github.com/labstack/echo/v5"}, "an Echo v4 program never compiles Echo v5"},
	{"examples/quickstart", []string{"github.com/labstack/echo/v5"}, "the README's Echo v4 program never compiles Echo v5"},
	{"echo5", []string{"github.com/labstack/echo/v4"}, "an Echo v5 program never compiles Echo v4"},
	{"examples/echo5", []string{"github.com/labstack/echo/v4"}, "the README's Echo v5 program never compiles Echo v4"},
}

// goTool returns the go command that runs this test (go test puts its
// GOROOT/bin first on PATH).
func goTool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command on PATH: %v", err)
	}
	return p
}

// TestDependencyPromises runs `go list -deps` on each package and fails on
// a forbidden import anywhere in its graph (tests excluded: what a user's
// program compiles).
func TestDependencyPromises(t *testing.T) {
	gobin := goTool(t)
	for _, p := range promises {
		t.Run(p.pkg, func(t *testing.T) {
			out, err := exec.Command(gobin, "list", "-deps", mod+"/"+p.pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list -deps %s: %v\n%s", p.pkg, err, out)
			}
			deps := strings.Fields(string(out))
			if len(deps) < 5 {
				t.Fatalf("go list -deps %s listed %d packages; the check would prove nothing", p.pkg, len(deps))
			}
			for _, d := range deps {
				for _, f := range p.forbid {
					if strings.HasPrefix(d, f) || d == strings.TrimSuffix(f, "/") {
						t.Errorf("%s compiles %s (%s)", p.pkg, d, p.why)
					}
				}
			}
		})
	}
}

// TestPromisesCanFail shows the check sees what it forbids: the Echo v4
// front door does compile Echo v4.
func TestPromisesCanFail(t *testing.T) {
	out, err := exec.Command(goTool(t), "list", "-deps", mod+"/middleware").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "github.com/labstack/echo/v4\n") {
		t.Fatal("go list -deps ./middleware does not list echo/v4: the promises test would pass vacuously")
	}
}
