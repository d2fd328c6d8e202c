// Package redistest runs real redis-server processes for apiguard's tests.
//
// Tests that need Redis call [Addr] (a shared server: the one named by
// APIGUARD_REDIS_ADDR, which .ci/run starts, else one started for the test
// binary) or [Start] (a private server the test may kill and restart). When
// no redis-server binary is installed the test is skipped, except under
// CI=true, where it fails: CI must never pass by skipping the Redis suite.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvAddr names the environment variable holding the address of a running
// Redis server that tests may share.
const EnvAddr = "APIGUARD_REDIS_ADDR"

// Server is a redis-server process owned by a test.
type Server struct {
	// Addr is host:port on loopback.
	Addr string

	port int
	dir  string
	mu   sync.Mutex
	cmd  *exec.Cmd
}

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
)

// binary returns the path of redis-server, skipping or failing tb when none
// is installed.
func binary(tb testing.TB) string {
	tb.Helper()
	p, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("redis-server not found and CI=true: the Redis tests must run in CI (%v)", err)
		}
		tb.Skipf("redis-server not installed: %v", err)
	}
	return p
}

// Addr returns the address of a Redis server shared by the tests of this
// binary: $APIGUARD_REDIS_ADDR when set and reachable, else a server started
// once for the whole test binary (it dies with the binary's process group at
// the latest; [Addr] callers must use unique key prefixes).
func Addr(tb testing.TB) string {
	tb.Helper()
	if a := os.Getenv(EnvAddr); a != "" {
		if err := ping(a, 2*time.Second); err != nil {
			tb.Fatalf("%s=%s is not reachable: %v", EnvAddr, a, err)
		}
		return a
	}
	bin := binary(tb)
	sharedOnce.Do(func() {
		shared = &Server{dir: os.TempDir()}
		sharedErr = shared.start(bin, 0)
	})
	if sharedErr != nil {
		tb.Fatalf("starting redis-server: %v", sharedErr)
	}
	return shared.Addr
}

// Client returns a go-redis client for the shared server, closed when tb ends.
func Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: Addr(tb)})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Start starts a private redis-server on a free loopback port, stopped when
// tb ends. Use it for tests that kill or pause Redis.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := binary(tb)
	s := &Server{dir: tb.TempDir()}
	if err := s.start(bin, 0); err != nil {
		tb.Fatalf("starting redis-server: %v", err)
	}
	tb.Cleanup(s.Kill)
	return s
}

// Client returns a go-redis client for s, closed when tb ends. Its timeouts
// are short so that a killed server fails fast.
func (s *Server) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{
		Addr: s.Addr, DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
		MaxRetries: -1,
	})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Kill stops the server with SIGKILL and waits for it to exit. Data is lost,
// as in a crash. Killing a stopped server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	if sigCont != nil {
		_ = s.cmd.Process.Signal(sigCont) // let a paused server die at once
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Pause freezes the server with SIGSTOP: connections stay open and
// commands hang, as with a Redis stuck in a long fork or a network stall,
// until [Server.Resume]. A paused server still running when tb ends is
// killed by Kill, which resumes it first.
func (s *Server) Pause(tb testing.TB) {
	tb.Helper()
	s.signal(tb, sigStop)
}

// Resume thaws a server frozen by [Server.Pause] with SIGCONT.
func (s *Server) Resume(tb testing.TB) {
	tb.Helper()
	s.signal(tb, sigCont)
}

func (s *Server) signal(tb testing.TB, sig os.Signal) {
	tb.Helper()
	if sig == nil {
		tb.Skip("redistest: pausing a process is not supported on this platform")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		tb.Fatalf("redistest: %v to a server that is not running", sig)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		tb.Fatalf("redistest: %v: %v", sig, err)
	}
}

// Restart starts a killed server again on the same port.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	if err := s.start(binary(tb), s.port); err != nil {
		tb.Fatalf("restarting redis-server: %v", err)
	}
}

func (s *Server) start(bin string, port int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		p := port
		if p == 0 {
			var err error
			if p, err = freePort(); err != nil {
				return err
			}
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		cmd := exec.Command(bin,
			"--port", strconv.Itoa(p), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", s.dir,
			"--protected-mode", "no", "--loglevel", "warning")
		dieWithParent(cmd)
		if err := cmd.Start(); err != nil {
			return err
		}
		err := ping(addr, 5*time.Second)
		if err == nil {
			// The server answering must be this one, not another test's
			// that took the port between freePort and this start (or while
			// this server was down): ours then failed to bind and exited.
			err = isProcess(addr, cmd.Process.Pid)
		}
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			lastErr = err
			if port != 0 {
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		s.cmd, s.port, s.Addr = cmd, p, addr
		return nil
	}
	return fmt.Errorf("redis-server did not come up: %w", lastErr)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// isProcess reports an error unless the server at addr is the process pid.
func isProcess(addr string, pid int) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return err
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			if v != strconv.Itoa(pid) {
				return fmt.Errorf("%s is served by process %s, not by the redis-server started (%d)", addr, v, pid)
			}
			return nil
		}
	}
	return fmt.Errorf("%s: no process_id in INFO server", addr)
}

func ping(addr string, within time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Prefix returns a key prefix unique to tb, so tests sharing one server never
// see each other's keys.
func Prefix(tb testing.TB) string {
	return fmt.Sprintf("test:%s:%d:", tb.Name(), time.Now().UnixNano())
}
