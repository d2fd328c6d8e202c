package load

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildMu  sync.Mutex
	builtBin string
	buildDir string
	bareBin  string
)

// BuildServer builds the reference server (examples/server of the root
// module) once per test binary and returns the path of the binary. Under
// -race the server is built with -race too, so data races inside it under
// load fail the run (see Server.Stop). Call Cleanup from TestMain to remove
// it.
func BuildServer(tb testing.TB) string {
	tb.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if builtBin != "" {
		return builtBin
	}
	root, err := RootDir()
	if err != nil {
		tb.Fatalf("locating the apiguard module: %v", err)
	}
	dir, err := os.MkdirTemp("", "apiguard-bench-")
	if err != nil {
		tb.Fatal(err)
	}
	bin := filepath.Join(dir, "server")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./examples/server")
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		tb.Fatalf("go build examples/server: %v\n%s", err, out)
	}
	builtBin, buildDir = bin, dir
	return bin
}

// BuildBareServer builds the bare server (bench/load/bareserver: a bare
// framework serving the Bare stacks' two routes) once per test binary, in
// the directory of BuildServer's binary, and returns its path. Under -race
// it is built with -race too.
func BuildBareServer(tb testing.TB) string {
	tb.Helper()
	BuildServer(tb)
	buildMu.Lock()
	defer buildMu.Unlock()
	if bareBin != "" {
		return bareBin
	}
	bin := filepath.Join(buildDir, "bareserver")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/clipia/apiguard/bench/load/bareserver")
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		tb.Fatalf("go build bench/load/bareserver: %v\n%s", err, out)
	}
	bareBin = bin
	return bin
}

// Cleanup removes what BuildServer and BuildBareServer built.
func Cleanup() {
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	builtBin, buildDir, bareBin = "", "", ""
}

// RootDir returns the directory of the github.com/clipia/apiguard module as
// the bench module resolves it (its replace directive: ../).
func RootDir() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/clipia/apiguard").Output()
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// Server is a reference-server process owned by a test.
type Server struct {
	URL  string // http://127.0.0.1:PORT
	Addr string
	Log  string // path of its stderr (slog JSON lines)

	cmd  *exec.Cmd
	done chan struct{}
	err  error // exit status, valid after done
}

// StartServer starts the reference server on a free loopback port with
// the given flags (-addr is added) and waits until GET /healthz answers 200.
// It is killed when tb ends if still running.
func StartServer(tb testing.TB, flags ...string) *Server {
	tb.Helper()
	return startProcess(tb, BuildServer(tb), flags)
}

// StartBareServer starts the bare server of a front door (FrameworkEcho4,
// FrameworkEcho5 or FrameworkNetHTTP: the stack BareStack(framework)) as a
// process on a free loopback port, as StartServer does.
func StartBareServer(tb testing.TB, framework string) *Server {
	tb.Helper()
	return startProcess(tb, BuildBareServer(tb), []string{"-framework", framework})
}

// startProcess starts bin with flags and -addr on a free loopback port and
// waits until GET /healthz answers 200.
func startProcess(tb testing.TB, bin string, flags []string) *Server {
	tb.Helper()
	dir := tb.TempDir()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port := FreePort(tb)
		s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), Log: filepath.Join(dir, "server-"+strconv.Itoa(port)+".log"), done: make(chan struct{})}
		s.URL = "http://" + s.Addr
		logf, err := os.Create(s.Log)
		if err != nil {
			tb.Fatal(err)
		}
		s.cmd = exec.Command(bin, append([]string{"-addr", s.Addr}, flags...)...)
		s.cmd.Stdout, s.cmd.Stderr = logf, logf
		dieWithParent(s.cmd)
		if err := s.cmd.Start(); err != nil {
			logf.Close()
			tb.Fatalf("starting server: %v", err)
		}
		go func() { s.err = s.cmd.Wait(); logf.Close(); close(s.done) }()
		if lastErr = s.waitHealthy(10 * time.Second); lastErr == nil {
			tb.Cleanup(func() {
				s.Kill()
				if tb.Failed() {
					b, _ := os.ReadFile(s.Log)
					tb.Logf("server %s log (tail):\n%s", s.Addr, tail(string(b), 4000))
				}
			})
			return s
		}
		s.Kill()
	}
	tb.Fatalf("server did not become healthy: %v", lastErr)
	return nil
}

func (s *Server) waitHealthy(d time.Duration) error {
	deadline := time.Now().Add(d)
	c := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			b, _ := os.ReadFile(s.Log)
			return fmt.Errorf("server exited: %v\n%s", s.err, b)
		default:
		}
		resp, err := c.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("timeout waiting for /healthz")
}

// PID is the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Signal sends sig to the server.
func (s *Server) Signal(sig syscall.Signal) error { return s.cmd.Process.Signal(sig) }

// Kill sends SIGKILL and waits for the process to end.
func (s *Server) Kill() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Wait waits up to d for the process to exit and returns its exit code
// (-1 with an error on timeout or when it died of a signal).
func (s *Server) Wait(d time.Duration) (int, error) {
	select {
	case <-s.done:
	case <-time.After(d):
		return -1, fmt.Errorf("server still running after %v", d)
	}
	if s.err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if errors.As(s.err, &ee) {
		return ee.ExitCode(), nil
	}
	return -1, s.err
}

// Done is closed when the process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// LogText returns the server's stderr so far.
func (s *Server) LogText() string {
	b, _ := os.ReadFile(s.Log)
	return string(b)
}

// CheckNoRace fails tb when the server's log holds a data-race report (the
// server is built with -race when the tests are).
func (s *Server) CheckNoRace(tb testing.TB) {
	tb.Helper()
	if txt := s.LogText(); strings.Contains(txt, "WARNING: DATA RACE") {
		i := strings.Index(txt, "WARNING: DATA RACE")
		tb.Errorf("data race in the reference server:\n%s", tail(txt[i:], 6000))
	}
}

// ProcStatus reads VmRSS (kB) and Threads from /proc/PID/status.
func ProcStatus(pid int) (rssKB int64, threads int, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "VmRSS":
			rssKB, _ = strconv.ParseInt(f[0], 10, 64)
		case "Threads":
			threads, _ = strconv.Atoi(f[0])
		}
	}
	return rssKB, threads, nil
}

// RSS returns the server's resident set size in kB, or 0 when unknown.
func (s *Server) RSS() int64 {
	rss, _, _ := ProcStatus(s.PID())
	return rss
}

// Threads returns the server's OS thread count, or 0 when unknown.
func (s *Server) Threads() int {
	_, th, _ := ProcStatus(s.PID())
	return th
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
