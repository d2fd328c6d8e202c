// Package depcheck holds the test of apiguard's dependency promises: each
// user compiles only what they use. It has no code of its own.
package depcheck

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/clipia/apiguard"

// What the promises forbid, by prefix of an import path.
const (
	echoAny   = "github.com/labstack/" // Echo v4, Echo v5 and what they bring (gommon)
	echoV4    = "github.com/labstack/echo/v4"
	echoV5    = "github.com/labstack/echo/v5"
	gin       = "github.com/gin-gonic/"
	chi       = "github.com/go-chi/"
	validator = "github.com/go-playground/"
	doors     = mod + "/middleware" // every front door
	testPkg   = "testing"           // the standard test package: runtime code never imports a test helper
)

// frameworks are every web framework a door adapts.
var frameworks = []string{echoAny, gin, chi}

// core is what every core package must never compile: a framework, a
// door, a test helper.
var core = slices.Concat(frameworks, []string{doors, testPkg})

// plus returns base and more, in a new slice.
func plus(base []string, more ...string) []string { return slices.Concat(base, more) }

// promises: what each package (and its whole import graph) must never
// compile.
var promises = []struct {
	pkg    string
	forbid []string
	why    string
}{
	// The core: framework-neutral, door-neutral.
	{"guard", core, "the guard contract is framework-neutral"},
	{"errorsx", plus(core, validator), "the catalogue and renderer import no framework and no validator"},
	{"principal", plus(core, validator), "who is calling is framework-neutral"},
	{"auth", plus(core, validator), "auth is framework-neutral"},
	{"bind", core, "bind is framework-neutral"},
	{"ratelimit", core, "the limiter is framework-neutral"},
	{"ratelimit/redisstore", core, "stores are framework-neutral"},
	{"idempotency", core, "the idempotency guard is framework-neutral"},
	{"idempotency/redisstore", core, "stores are framework-neutral"},
	{"idempotency/pgstore", plus(core, "github.com/redis/"), "stores are framework-neutral"},
	{"telemetry", core, "telemetry is framework-neutral"},
	{"contracttest", plus(frameworks, doors, validator), "the contract checker probes any handler over HTTP: no framework, no door, no validator"},
	{"openapi", plus(core, validator, mod+"/guard"), "the document builder imports no framework, no validator, and not the guards it describes"},
	{"internal/frontdoor", plus(core, validator), "the doors' runtime helpers import no framework, and no validator: bind registers its mapper"},

	// The doors: each compiles its own framework only.
	{"middleware/echo4", []string{echoV5, gin, chi, testPkg}, "an Echo v4 program never compiles Echo v5, gin or chi"},
	{"middleware/echo5", []string{echoV4, gin, chi, testPkg}, "an Echo v5 program never compiles Echo v4, gin or chi"},
	{"middleware/gin1", []string{echoAny, chi, testPkg}, "a gin program compiles no Echo and no chi"},
	{"middleware/chi5", []string{echoAny, gin, testPkg}, "a chi program compiles no Echo and no gin"},
	{"middleware/nethttp", []string{echoAny, gin, chi, validator, testPkg},
		"a net/http program compiles no framework, and no validator unless it binds"},

	// The README's programs.
	{"examples/nethttp", frameworks, "the README's net/http program compiles no framework"},
	{"examples/quickstart", []string{echoV5, gin, chi}, "the README's Echo v4 program never compiles Echo v5, gin or chi"},
	{"examples/echo5", []string{echoV4, gin, chi}, "the README's Echo v5 program never compiles Echo v4, gin or chi"},
	{"examples/gin", []string{echoAny, chi}, "the README's gin program compiles no Echo and no chi"},
	{"examples/chi", []string{echoAny, gin}, "the README's chi program compiles no Echo and no gin"},
}

// clientOurs is all of apiguard a client compiles: errorsx (with its leaf hooks internal/validmap and internal/headerval), and the
// telemetry API errorsx counts with.
var clientOurs = []string{mod + "/client", mod + "/errorsx", mod + "/telemetry", mod + "/internal/instrument", mod + "/internal/validmap", mod + "/internal/headerval"}

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

// deps returns the import graph of pkg, tests excluded: what a user's
// program compiles.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command(goTool(t), "list", "-deps", mod+"/"+pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	ds := strings.Fields(string(out))
	if len(ds) < 5 {
		t.Fatalf("go list -deps %s listed %d packages; the check would prove nothing", pkg, len(ds))
	}
	return ds
}

// forbidden reports whether the import path d is forbidden by the prefix
// f: d is f or below it.
func forbidden(d, f string) bool {
	f = strings.TrimSuffix(f, "/")
	return d == f || strings.HasPrefix(d, f+"/")
}

// TestDependencyPromises runs `go list -deps` on each package and fails on
// a forbidden import anywhere in its graph.
func TestDependencyPromises(t *testing.T) {
	for _, p := range promises {
		t.Run(p.pkg, func(t *testing.T) {
			for _, d := range deps(t, p.pkg) {
				for _, f := range p.forbid {
					if forbidden(d, f) {
						t.Errorf("%s compiles %s (%s)", p.pkg, d, p.why)
					}
				}
			}
		})
	}
}

// TestClientCompilesOnlyErrorsx: a program that only talks to an apiguard
// API compiles nothing of apiguard but the catalogue (errorsx and the
// telemetry API it counts with), no framework, no validator, no store
// client.
func TestClientCompilesOnlyErrorsx(t *testing.T) {
	for _, d := range deps(t, "client") {
		if strings.HasPrefix(d, mod+"/") && !slices.Contains(clientOurs, d) {
			t.Errorf("client compiles %s; want only %v of apiguard", d, clientOurs)
		}
		for _, f := range plus(core, validator, "github.com/redis/", "github.com/jackc/") {
			if forbidden(d, f) {
				t.Errorf("client compiles %s", d)
			}
		}
	}
}

// TestPromisesCanFail shows the check sees what it forbids: each door
// does compile its own framework, and a program that binds compiles the
// validator.
func TestPromisesCanFail(t *testing.T) {
	for _, tc := range []struct{ pkg, want string }{
		{"middleware/echo4", echoV4},
		{"middleware/echo5", echoV5},
		{"middleware/gin1", gin},
		{"middleware/chi5", chi},
		{"bind", validator},
	} {
		found := false
		for _, d := range deps(t, tc.pkg) {
			found = found || forbidden(d, tc.want)
		}
		if !found {
			t.Errorf("go list -deps %s does not list %s: the promises test would pass vacuously", tc.pkg, tc.want)
		}
	}
}
