package app

import (
	"flag"
	"os"
	"os/exec"
	"testing"
	"time"
)

// envFramework names the front door this test process serves the app with;
// empty means Echo v4. TestEveryFrontDoor sets it for the runs it starts.
const envFramework = "APIGUARD_E2E_FRAMEWORK"

// framework is the -framework every server of this test process runs with.
func framework() string {
	if f := os.Getenv(envFramework); f != "" {
		return f
	}
	return FrameworkEcho4
}

// TestEveryFrontDoor runs this package's whole suite (every e2e test, the
// same -run filter) once more for each other front door (Echo v5,
// net/http, chi, gin), each in a child process of this test binary, so
// that `go test ./...` checks that every route, status, header and body is
// the same on all five front doors.
func TestEveryFrontDoor(t *testing.T) {
	if os.Getenv(envFramework) != "" {
		t.Skip("a child run of one front door")
	}
	run := flag.Lookup("test.run").Value.String()
	for _, fw := range Frameworks() {
		if fw == FrameworkEcho4 {
			continue // this process
		}
		t.Run(fw, func(t *testing.T) {
			t.Parallel()
			args := []string{"-test.count=1", "-test.timeout=10m"}
			if run != "" {
				args = append(args, "-test.run="+run)
			}
			if testing.Short() {
				args = append(args, "-test.short")
			}
			cmd := exec.Command(os.Args[0], args...)
			cmd.Env = append(os.Environ(), envFramework+"="+fw)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("the suite on -framework %s failed (%v):\n%s", fw, err, out)
			}
			t.Logf("the suite on -framework %s passed in %v", fw, time.Since(start).Round(time.Second))
		})
	}
}
