package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clipia/apiguard/internal/pgtest"
	"github.com/gin-gonic/gin"
)

// The end-to-end tests talk to the server over a real TCP listener, either
// started in-process through Run (fast, and its log is captured) or as the
// built binary (signals, several processes sharing one Redis).

// binDir holds the server binary, built at most once by serverBinary for
// the process-level tests; TestMain removes it.
var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	buildErr error
)

func TestMain(m *testing.M) {
	// gin lists its routes on stdout in its default debug mode, once per
	// app the tests build; main sets release mode, the tests test mode.
	gin.SetMode(gin.TestMode)
	code := pgtest.Run(m) // stops and removes the PostgreSQL clusters the tests started
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// serverBinary builds the server command (go build ./examples/server, the
// main package over Run) once and returns its path.
func serverBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "apiguard-server-e2e-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "server")
		if out, err := exec.Command("go", "build", "-o", binPath, "github.com/clipia/apiguard/examples/server").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building the server: %v", buildErr)
	}
	return binPath
}

// syncBuffer is an io.Writer safe for concurrent use: the server's log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logLine is one decoded line of the server's JSON log.
type logLine map[string]any

func (l logLine) str(k string) string { s, _ := l[k].(string); return s }

// lines decodes every line of the log, failing t on a line that is not JSON.
func (b *syncBuffer) lines(t *testing.T) []logLine {
	t.Helper()
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

// testServer is a server started in-process by startServer.
type testServer struct {
	url string
	log *syncBuffer
}

// env turns a map into a getenv function, so the tests never read the real
// environment (REDIS_URL set on a developer's machine, say).
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// startServer runs the server in-process on 127.0.0.1:0 with args (added
// after -addr) and stops it when t ends, checking that Run returned nil.
func startServer(t *testing.T, args ...string) *testServer {
	t.Helper()
	return startServerEnv(t, nil, args...)
}

func startServerEnv(t *testing.T, envVars map[string]string, args ...string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, append([]string{"-addr", "127.0.0.1:0", "-framework", framework()}, args...), env(envVars), logs,
			func(addr string) { addrc <- addr })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		cancel()
		t.Fatalf("run returned before it was ready: %v\nlog:\n%s", err, logs)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatalf("server not ready within 10s\nlog:\n%s", logs)
	}
	t.Cleanup(func() {
		// Connections the client dialled but never used count as active
		// for http.Server.Shutdown for up to 5 s: close them first.
		client.CloseIdleConnections()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v after cancel, want nil", err)
			}
		case <-time.After(35 * time.Second):
			t.Errorf("run did not return within 35s of cancel")
		}
	})
	return &testServer{url: "http://" + addr, log: logs}
}

// req is one request a test sends.
type req struct {
	method string
	path   string
	key    string            // sent as Authorization: Bearer key when not empty
	body   string            // sent with Content-Type: application/json unless headers set one
	header map[string]string // extra headers; a value of "\x00" removes the header
}

// resp is a response read whole.
type resp struct {
	status int
	header http.Header
	body   []byte
}

var client = &http.Client{Timeout: 30 * time.Second}

// do sends r to base and reads the whole response.
func do(t testing.TB, base string, r req) resp {
	t.Helper()
	got, err := send(base, r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	return got
}

// send is do without a testing.TB, for goroutines.
func send(base string, r req) (resp, error) {
	method := r.method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequest(method, base+r.path, body)
	if err != nil {
		return resp{}, err
	}
	if r.key != "" {
		hr.Header.Set("Authorization", "Bearer "+r.key)
	}
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.header {
		if v == "\x00" {
			hr.Header.Del(k)
			continue
		}
		hr.Header.Set(k, v)
	}
	res, err := client.Do(hr)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, err
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}, nil
}

// post sends a generation request.
func post(key, body, idemKey string) req {
	r := req{method: http.MethodPost, path: "/v1/generations", key: key, body: body}
	if idemKey != "" {
		r.header = map[string]string{"Idempotency-Key": idemKey}
	}
	return r
}

// apiError is the inside of the error envelope.
type apiError struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param"`
}

// envelope checks that r is exactly the error envelope of the contract: the
// JSON content type, one top-level key "error", and inside it type, code and
// a non-empty message, plus param exactly when wantParam is true.
func envelope(t testing.TB, r resp, wantParam bool) apiError {
	t.Helper()
	if got, want := r.header.Get("Content-Type"), "application/json; charset=utf-8"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &outer); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	if got := keys(outer); strings.Join(got, ",") != "error" {
		t.Errorf("top-level keys = %v, want [error] (body %s)", got, r.body)
	}
	var inner map[string]json.RawMessage
	if err := json.Unmarshal(outer["error"], &inner); err != nil {
		t.Fatalf("error member of %s is not an object: %v", r.body, err)
	}
	want := []string{"code", "message", "type"}
	if wantParam {
		want = []string{"code", "message", "param", "type"}
	}
	if got := keys(inner); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("error keys = %v, want %v (body %s)", got, want, r.body)
	}
	var e apiError
	if err := json.Unmarshal(outer["error"], &e); err != nil {
		t.Fatalf("error member of %s: %v", r.body, err)
	}
	if e.Message == "" || e.Type == "" || e.Code == "" {
		t.Errorf("type, code and message must be non-empty strings, got %+v", e)
	}
	return e
}

func keys(m map[string]json.RawMessage) []string { return slices.Sorted(maps.Keys(m)) }

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// decode unmarshals a success body, failing t when it is not JSON.
func decode[T any](t testing.TB, r resp) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return v
}

// balanceOf returns the credits of key's tenant.
func balanceOf(t testing.TB, base, key string) int64 {
	t.Helper()
	r := do(t, base, req{path: "/v1/balance", key: key})
	if r.status != http.StatusOK {
		t.Fatalf("GET /v1/balance = %d %s, want 200", r.status, r.body)
	}
	return decode[struct {
		Credits int64 `json:"credits"`
	}](t, r).Credits
}

// waitFor polls cond every 10ms until it holds or 20s pass (it returns as
// soon as cond holds: the long deadline only matters on a loaded machine).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// proc is the server binary running as a child process.
type proc struct {
	cmd *exec.Cmd
	url string
	log *syncBuffer

	exited  chan struct{} // closed when the process has exited
	waitErr error         // Wait's result, set before exited is closed
}

// startProc execs the built binary on this run's front door with args
// (after -addr 127.0.0.1:0), learns its address from the "listening" log
// line and kills it when t ends if the test has not stopped it.
func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	return startProcOn(t, framework(), args...)
}

// startProcOn is startProc on the front door fw.
func startProcOn(t *testing.T, fw string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(serverBinary(t), append([]string{"-addr", "127.0.0.1:0", "-framework", fw}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // no ADDR, REDIS_URL… from the outside
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, log: &syncBuffer{}, exited: make(chan struct{})}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Bytes()
			_, _ = p.log.Write(append(line, '\n'))
			var l logLine
			if json.Unmarshal(line, &l) == nil && l.str("msg") == "listening" {
				select {
				case addrc <- l.str("addr"):
				default:
				}
			}
		}
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	select {
	case addr := <-addrc:
		p.url = "http://" + addr
	case <-p.exited:
		t.Fatalf("server exited before listening: %v\nlog:\n%s", p.waitErr, p.log)
	case <-time.After(15 * time.Second):
		t.Fatalf("server not listening within 15s\nlog:\n%s", p.log)
	}
	return p
}

// wait waits up to d for the process to exit and returns its exit error.
func (p *proc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.waitErr
	case <-time.After(d):
		t.Fatalf("server still running %v after the signal\nlog:\n%s", d, p.log)
		return errors.New("unreachable")
	}
}

// heldServer is the reference server, built with New on this run's front
// door, whose generations with the prompt "hold" run until release is
// called: a test that needs a generation in flight does not depend on how
// fast the machine is. Other prompts finish at once.
type heldServer struct {
	url     string
	log     *syncBuffer // the app's JSON log, as Run writes it
	started chan struct{}
	release func()
}

// startHeld starts a heldServer; change, when not nil, adjusts the
// configuration of the flags' defaults first.
func startHeld(t *testing.T, change func(*Config)) *heldServer {
	t.Helper()
	cfg, err := ParseConfig(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Framework = framework()
	if change != nil {
		change(&cfg)
	}
	release := make(chan struct{})
	h := &heldServer{started: make(chan struct{}, 64)}
	var once sync.Once
	h.release = func() { once.Do(func() { close(release) }) }
	cfg.Generate = func(ctx context.Context, prompt string) error {
		if prompt != "hold" {
			return nil
		}
		h.started <- struct{}{}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h.log = &syncBuffer{}
	a, err := New(context.Background(), cfg, newLogger(h.log))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() { h.release(); srv.Close(); _ = a.Close() })
	h.url = srv.URL
	return h
}

// waitStarted waits until a held generation runs.
func (h *heldServer) waitStarted(t testing.TB) {
	t.Helper()
	select {
	case <-h.started:
	case <-time.After(30 * time.Second):
		t.Fatal("no held generation started within 30s")
	}
}
