// Package pgtest runs real PostgreSQL servers for apiguard's tests.
//
// Tests that need PostgreSQL call [URL] or [Pool] (a shared server: the one
// named by APIGUARD_POSTGRES_URL, which .ci/run starts, else a throwaway
// cluster started once for the test binary) or [Start] (a private cluster
// the test may stop with an immediate shutdown and restart on the same
// port). Throwaway clusters are initialised with initdb into a temporary
// directory, by a non-root user when the tests run as root (postgres,
// else nobody), listen on a free loopback port only, run with fsync off
// (commits survive an immediate shutdown, not a machine crash), and are
// stopped when the test (or, with [Main], the test binary) ends.
// When no PostgreSQL binaries are installed the test is skipped, except
// under CI=true, where it fails: CI must never pass by skipping the
// PostgreSQL suite.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvURL names the environment variable holding the URL of a running
// PostgreSQL database that tests may share.
const EnvURL = "APIGUARD_POSTGRES_URL"

// Server is a throwaway PostgreSQL cluster owned by a test.
type Server struct {
	// URL is a postgres:// URL of the cluster's "postgres" database, as the
	// superuser postgres without a password, on 127.0.0.1.
	URL string

	bins *binaries
	dir  string // holds data/, the socket and the log
	port int
	cred *cred

	mu      sync.Mutex
	cmd     *exec.Cmd
	exit    chan struct{} // closed when cmd has exited
	started bool          // once started, the port is the server's for good
}

type binaries struct{ initdb, postgres string }

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error

	templateOnce sync.Once
	templateDir  string
	templateErr  error
)

// findBinaries returns the PostgreSQL server binaries, skipping or failing
// tb when none are installed.
func findBinaries(tb testing.TB) *binaries {
	tb.Helper()
	b, err := lookBinaries()
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL not found and CI=true: the PostgreSQL tests must run in CI (%v)", err)
		}
		tb.Skipf("PostgreSQL not installed (apt-get install postgresql): %v", err)
	}
	return b
}

func lookBinaries() (*binaries, error) {
	// Distribution packages keep the server binaries out of PATH.
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		b := &binaries{initdb: filepath.Join(d, "initdb"), postgres: filepath.Join(d, "postgres")}
		if executable(b.initdb) && executable(b.postgres) {
			return b, nil
		}
	}
	initdb, err := exec.LookPath("initdb")
	if err != nil {
		return nil, err
	}
	pg, err := exec.LookPath("postgres")
	if err != nil {
		return nil, err
	}
	return &binaries{initdb: initdb, postgres: pg}, nil
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func executable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// URL returns the URL of a PostgreSQL database shared by the tests of this
// binary: $APIGUARD_POSTGRES_URL when set (the test fails when it is not
// reachable), else a cluster started once for the whole test binary,
// stopped by [Main] or, at the latest, killed with the binary's process
// (on Linux). Tests sharing it must use their own tables or keys. A test
// binary that starts clusters must run its tests through [Main], which
// also removes their files.
func URL(tb testing.TB) string {
	tb.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		if err := ping(u, 5*time.Second); err != nil {
			tb.Fatalf("%s is set but the database is not reachable: %v", EnvURL, err)
		}
		return u
	}
	bins := findBinaries(tb)
	sharedOnce.Do(func() {
		shared, sharedErr = newServer(bins)
		if sharedErr == nil {
			if sharedErr = shared.start(); sharedErr != nil {
				shared.cleanup()
			}
		}
	})
	if sharedErr != nil {
		tb.Fatalf("starting PostgreSQL: %v", sharedErr)
	}
	return shared.URL
}

// Pool returns a pgx pool on the shared database ([URL]), closed when tb
// ends.
func Pool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	return newPool(tb, URL(tb))
}

// Main runs the tests of m and then stops the shared cluster that [URL]
// may have started, and removes its files and the initdb template that
// [URL] and [Start] copy. Call it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is [Main] for a TestMain with cleanup of its own: it runs the tests
// of m, stops and removes what [URL] and [Start] left, and returns the
// exit code for os.Exit.
func Run(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		shared.Stop()
		shared.cleanup()
	}
	if templateDir != "" {
		_ = os.RemoveAll(templateDir)
	}
	return code
}

// Start starts a private cluster on a free loopback port, stopped and
// removed when tb ends. Use it for tests that stop or restart PostgreSQL.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := newServer(findBinaries(tb))
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		s.Stop()
		s.cleanup()
	})
	if err := s.start(); err != nil {
		tb.Fatalf("starting PostgreSQL: %v", err)
	}
	return s
}

// Pool returns a pgx pool on s, closed when tb ends. Its connect timeout is
// short so that a stopped server fails fast.
func (s *Server) Pool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	return newPool(tb, s.URL+"&connect_timeout=1")
}

// Stop shuts the server down in immediate mode (SIGQUIT: no checkpoint,
// every connection cut, crash recovery at the next start) and waits for it
// to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sigQuit)
	select {
	case <-s.exit:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exit
	}
	s.cmd = nil
}

// Restart starts a stopped server again on the same port, with its data.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	if err := s.start(); err != nil {
		tb.Fatalf("restarting PostgreSQL: %v", err)
	}
}

// newServer prepares a data directory (a copy of an initdb template) and a
// port for a server that is not started yet.
func newServer(bins *binaries) (*Server, error) {
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	templateOnce.Do(func() { templateDir, templateErr = initTemplate(bins, cred) })
	if templateErr != nil {
		return nil, templateErr
	}
	dir, err := os.MkdirTemp("", "apiguard-pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{bins: bins, dir: dir, cred: cred}
	if err := copyTree(filepath.Join(templateDir, "data"), filepath.Join(dir, "data"), cred); err != nil {
		s.cleanup()
		return nil, err
	}
	if err := chown(dir, cred); err != nil {
		s.cleanup()
		return nil, err
	}
	if s.port, err = freePort(); err != nil {
		s.cleanup()
		return nil, err
	}
	s.setURL()
	return s, nil
}

func (s *Server) setURL() {
	s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

func (s *Server) cleanup() { _ = os.RemoveAll(s.dir) }

// credential returns the user to run PostgreSQL as: nil (the current user)
// unless the tests run as root, which PostgreSQL refuses; then postgres, or
// nobody.
func credential() (*cred, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return &cred{uid: uint32(uid), gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root and no postgres or nobody user to run PostgreSQL as")
}

// cred is the user the PostgreSQL processes run as; nil is the current
// user.
type cred struct{ uid, gid uint32 }

func chown(path string, c *cred) error {
	if c == nil {
		return nil
	}
	return os.Lchown(path, int(c.uid), int(c.gid))
}

// initTemplate runs initdb once per test binary; clusters start from
// copies of it (initdb takes seconds, a copy a fraction of one).
func initTemplate(bins *binaries, cred *cred) (string, error) {
	dir, err := os.MkdirTemp("", "apiguard-pgtest-template-")
	if err != nil {
		return "", err
	}
	if err := chown(dir, cred); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	cmd := exec.Command(bins.initdb, "-D", filepath.Join(dir, "data"), "-U", "postgres",
		"--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = sysProcAttr(cred, false)
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("initdb: %v: %s", err, tail(out))
	}
	return dir, nil
}

// copyTree copies the directory src to dst, keeping modes, owned by cred.
func copyTree(src, dst string, cred *cred) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.Mkdir(target, info.Mode().Perm()); err != nil {
				return err
			}
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(link, target); err != nil {
				return err
			}
		default:
			if err := copyFile(p, target, info.Mode().Perm()); err != nil {
				return err
			}
		}
		return chown(target, cred)
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// start runs postgres on s.port and waits until it accepts connections.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("pgtest: server already running")
	}
	logPath := filepath.Join(s.dir, "postgres.log")
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		cmd := exec.Command(s.bins.postgres,
			"-D", filepath.Join(s.dir, "data"),
			"-p", strconv.Itoa(s.port),
			"-k", s.dir,
			"-c", "listen_addresses=127.0.0.1",
			// fsync off: a commit still reaches the kernel before it
			// returns, so an immediate shutdown (a process crash) loses
			// nothing; only a machine crash would. synchronous_commit
			// stays on for that reason.
			"-c", "fsync=off",
			"-c", "full_page_writes=off",
			"-c", "max_connections=300",
			"-c", "shared_buffers=32MB",
		)
		cmd.Dir = s.dir
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		// On Linux the kernel kills the server when the test binary dies,
		// so no cluster outlives its tests.
		cmd.SysProcAttr = sysProcAttr(s.cred, true)
		if err := cmd.Start(); err != nil {
			logf.Close()
			return err
		}
		logf.Close()
		exit := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exit) }()
		if err := waitReady(s.URL, exit, 30*time.Second); err != nil {
			_ = cmd.Process.Kill()
			<-exit
			log, _ := os.ReadFile(logPath)
			lastErr = fmt.Errorf("%v; log: %s", err, tail(log))
			if !s.started {
				// Another process may have taken the port since it was
				// found free: try another one.
				if p, err := freePort(); err == nil {
					s.port = p
					s.setURL()
				}
			} else {
				time.Sleep(200 * time.Millisecond) // the port may still be held by the previous server
			}
			continue
		}
		s.cmd, s.exit, s.started = cmd, exit, true
		return nil
	}
	return fmt.Errorf("postgres did not come up on port %d: %w", s.port, lastErr)
}

func waitReady(url string, exited <-chan struct{}, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		select {
		case <-exited:
			return errors.New("postgres exited")
		default:
		}
		err := ping(url, 0)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// ping connects once (or until within passes) and runs a query.
func ping(url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := pgconn.Connect(ctx, url)
		if err == nil {
			err = c.Exec(ctx, "SELECT 1").Close()
			_ = c.Close(ctx)
		}
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func newPool(tb testing.TB, url string) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(p.Close)
	return p
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}
