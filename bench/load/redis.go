package load

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tool returns the path of an installed program (redis-server, redis-cli),
// skipping tb when it is missing, or failing it under CI=true.
func Tool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if CI() {
			tb.Fatalf("%s not found and CI=true: the harness must run in CI (%v)", name, err)
		}
		tb.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Redis is a redis-server process owned by a test, on a fixed loopback port
// so that it can be killed and restarted at the same address.
type Redis struct {
	Port int
	Dir  string
	args []string
	bin  string
	mu   sync.Mutex
	cmd  *exec.Cmd
}

// StartRedis starts redis-server on a free loopback port, without
// persistence, with extra arguments appended (e.g. "--cluster-enabled",
// "yes"). It is killed when tb ends.
func StartRedis(tb testing.TB, extra ...string) *Redis {
	tb.Helper()
	r := &Redis{bin: Tool(tb, "redis-server"), Dir: tb.TempDir(), args: extra}
	for attempt := 0; ; attempt++ {
		r.Port = FreePort(tb)
		err := r.start()
		if err == nil {
			break
		}
		if attempt == 3 {
			tb.Fatalf("starting redis-server: %v", err)
		}
	}
	tb.Cleanup(r.Kill)
	return r
}

// Addr is host:port.
func (r *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.Port) }

// URL is the redis:// URL the reference server takes.
func (r *Redis) URL() string { return "redis://" + r.Addr() + "/0" }

func (r *Redis) start() error {
	args := append([]string{
		"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.Dir,
		"--protected-mode", "no", "--loglevel", "warning",
	}, r.args...)
	cmd := exec.Command(r.bin, args...)
	log, err := os.OpenFile(r.Dir+"/redis.log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = log, log
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		log.Close()
		return err
	}
	go func() { _ = cmd.Wait(); log.Close() }()
	if err := WaitRedis(r.Addr(), 5*time.Second); err != nil {
		_ = cmd.Process.Kill()
		return err
	}
	r.mu.Lock()
	r.cmd = cmd
	r.mu.Unlock()
	return nil
}

// Kill stops the server with SIGKILL (data is lost, as in a crash) and waits
// until its port refuses connections. Killing a dead server does nothing.
func (r *Redis) Kill() {
	r.mu.Lock()
	cmd := r.cmd
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	for i := 0; i < 200; i++ {
		c, err := net.DialTimeout("tcp", r.Addr(), 50*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
}

// Restart starts the server again on the same port, empty.
func (r *Redis) Restart(tb testing.TB) {
	tb.Helper()
	r.Kill()
	var err error
	for i := 0; i < 20; i++ { // the port may linger for a moment
		if err = r.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("restarting redis-server on %s: %v", r.Addr(), err)
}

// WaitRedis pings addr until it answers PONG or d passes.
func WaitRedis(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		var reply string
		if reply, err = Command(addr, "PING"); err == nil && reply == "+PONG" {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("redis at %s not ready after %v: %v", addr, d, err)
}

// Command sends one inline command to the Redis at addr and returns the
// first line of the reply (e.g. "+PONG", ":3", "$12"), with bulk strings
// read whole. It needs no client library, so it also works on a node of a
// cluster for node-local commands (DBSIZE, INFO, CLUSTER INFO).
func Command(addr string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "$") {
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	if strings.HasPrefix(line, "-") {
		return line, fmt.Errorf("redis: %s", line[1:])
	}
	return line, nil
}

// Info returns the fields of INFO section as a map.
func Info(addr, section string) (map[string]string, error) {
	s, err := Command(addr, "INFO", section)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") {
			m[k] = v
		}
	}
	return m, nil
}

// CommandCalls returns the number of commands Redis at addr has processed,
// by command name (INFO commandstats), INFO itself excluded.
func CommandCalls(addr string) (map[string]int64, error) {
	m, err := Info(addr, "commandstats")
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for k, v := range m {
		name, ok := strings.CutPrefix(k, "cmdstat_")
		if !ok || name == "info" {
			continue
		}
		for _, f := range strings.Split(v, ",") {
			if n, ok := strings.CutPrefix(f, "calls="); ok {
				out[name], _ = strconv.ParseInt(n, 10, 64)
			}
		}
	}
	return out, nil
}
