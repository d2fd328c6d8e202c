package sdk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serverBin is the reference server, built once by TestMain.
var serverBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	flag.Parse()
	// The tests mostly wait (on server processes, work delays and SDK
	// back-offs), and each runs once per front door: unless -parallel is
	// given, run more of them at once than go test's default of
	// GOMAXPROCS, which would triple the run's wall time.
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		_ = flag.Set("test.parallel", strconv.Itoa(max(8, 4*runtime.GOMAXPROCS(0))))
	}
	dir, err := os.MkdirTemp("", "apiguard-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Build inside the root module (the replace target), so the server's
	// own dependencies (go-redis) come from its go.sum, not from this
	// module's, which `go mod tidy` keeps free of them.
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/clipia/apiguard").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop: locating the apiguard module:", err)
		return 1
	}
	serverBin = filepath.Join(dir, "server")
	build := exec.Command("go", "build", "-o", serverBin, "./examples/server")
	build.Dir = strings.TrimSpace(string(root))
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "interop: building examples/server:", err)
		return 1
	}
	return m.Run()
}

// Demo keys and models of the reference server (examples/server/README.md).
const (
	keyFull      = "sk_test_full"      // acme, every scope
	keyOther     = "sk_test_other"     // globex, every scope
	keyReadonly  = "sk_test_readonly"  // acme, no generations:write
	keyNoCredits = "sk_test_nocredits" // initech, 0 credits
	keyRevoked   = "sk_test_revoked"

	startCredits = 1000 // -credits default
)

// serverEnv are the environment variables the server reads; the tests pass
// every setting as a flag, so none may leak in from the developer's shell
// (REDIS_URL would make parallel tests share rate-limit buckets).
var serverEnv = []string{
	"ADDR", "REDIS_URL", "RATE", "BURST", "WORK_DELAY", "IDEMPOTENCY_TTL", "LOCK_TTL", "CREDITS",
	"FRAMEWORK", "MAX_IN_FLIGHT", "DATABASE_URL",
	"READ_HEADER_TIMEOUT", "READ_TIMEOUT", "WRITE_TIMEOUT", "IDLE_TIMEOUT",
}

// allFrameworks are the reference server's front doors (its -framework
// flag): Echo v4, Echo v5, net/http's ServeMux, chi and gin.
var allFrameworks = []string{"echo4", "echo5", "nethttp", "chi", "gin"}

// frameworks returns the front doors the tests run against: every one of
// allFrameworks, or those that $APIGUARD_FRAMEWORKS lists (comma
// separated, e.g. "echo4,nethttp"). An unknown name is an error.
func frameworks() ([]string, error) {
	env := os.Getenv("APIGUARD_FRAMEWORKS")
	if env == "" {
		return allFrameworks, nil
	}
	var out []string
	for _, fw := range strings.Split(env, ",") {
		fw = strings.TrimSpace(fw)
		if !containsString(allFrameworks, fw) {
			return nil, fmt.Errorf("APIGUARD_FRAMEWORKS: unknown front door %q (want %s)", fw, strings.Join(allFrameworks, ", "))
		}
		out = append(out, fw)
	}
	return out, nil
}

// eachFramework runs test once per front door, as a parallel subtest
// named after it, each with its own server processes.
func eachFramework(t *testing.T, test func(t *testing.T, fw string)) {
	t.Helper()
	fws, err := frameworks()
	if err != nil {
		t.Fatal(err)
	}
	t.Parallel()
	for _, fw := range fws {
		t.Run(fw, func(t *testing.T) { test(t, fw) })
	}
}

// server is one running reference server process.
type server struct {
	URL string // http://127.0.0.1:port

	mu  sync.Mutex
	log bytes.Buffer
}

// startServer starts the reference server on front door fw (-framework)
// with args on a free loopback port (-addr 127.0.0.1:0; the port is read
// from its "listening" log line), waits for /healthz, and stops it with
// SIGTERM when the test ends, checking that it drains and exits 0.
func startServer(t *testing.T, fw string, args ...string) *server {
	t.Helper()
	args = append([]string{"-framework", fw}, args...)
	cmd := exec.Command(serverBin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !containsString(serverEnv, name) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the server: %v", err)
	}
	s := &server{}
	addrc := make(chan string, 1)
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			s.mu.Lock()
			s.log.Write(line)
			s.log.WriteByte('\n')
			s.mu.Unlock()
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "listening" {
				select {
				case addrc <- rec.Addr:
				default:
				}
			}
		}
	}()
	exited := make(chan error, 1)
	go func() {
		<-logDone // Wait must not run before the pipe is drained.
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("server %v: exit after SIGTERM: %v", args, err)
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("server %v did not stop within 15s of SIGTERM", args)
		}
		if t.Failed() {
			t.Logf("server %v log:\n%s", args, s.logText())
		}
	})

	select {
	case addr := <-addrc:
		s.URL = "http://" + addr
	case err := <-exited:
		t.Fatalf("server %v exited at start: %v\n%s", args, err, s.logText())
	case <-time.After(20 * time.Second):
		t.Fatalf("server %v did not log its address within 20s\n%s", args, s.logText())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get(s.URL + "/healthz")
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server %v: /healthz not ready: %v", args, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// balance returns the credits of key's tenant, asked directly of the server
// (not through any proxy, so it counts no attempts).
func (s *server) balance(t *testing.T, key string) int64 {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+"/v1/balance", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /v1/balance: %v", err)
	}
	defer res.Body.Close()
	var b struct{ Credits int64 }
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(res.Body)
		t.Fatalf("GET /v1/balance: %d %s", res.StatusCode, body)
	}
	if err := json.NewDecoder(res.Body).Decode(&b); err != nil {
		t.Fatalf("GET /v1/balance: %v", err)
	}
	return b.Credits
}

// inFlight is a generation request sent directly to the server and still
// running: its Idempotency-Key is claimed.
type inFlight struct {
	done   chan struct{}
	status int
	body   []byte
	err    error
	cancel context.CancelFunc
}

// startInFlight sends POST /v1/generations with idemKey and body straight to
// the server (bypassing every proxy) and returns once the handler is
// running: the tenant's credits have been reserved, which happens after the
// idempotency middleware claimed the key. The server must run with a
// -work-delay long enough for the test. cost is the request's price.
func startInFlight(t *testing.T, s *server, key, idemKey string, body any, cost int64) *inFlight {
	t.Helper()
	before := s.balance(t, key)
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &inFlight{done: make(chan struct{}), cancel: cancel}
	t.Cleanup(func() { cancel(); <-f.done })
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/v1/generations", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", idemKey)
	go func() {
		defer close(f.done)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			f.err = err
			return
		}
		defer res.Body.Close()
		f.status = res.StatusCode
		f.body, f.err = io.ReadAll(res.Body)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for s.balance(t, key) != before-cost {
		select {
		case <-f.done:
			t.Fatalf("the first request ended before it was seen running: %d %s %v", f.status, f.body, f.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the first request's credits were never reserved")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return f
}

// wait waits for the request to finish and returns its status and body.
func (f *inFlight) wait(t *testing.T) (int, []byte) {
	t.Helper()
	<-f.done
	if f.err != nil {
		t.Fatalf("first request: %v", f.err)
	}
	return f.status, f.body
}

// attempt is one request that reached the proxy.
type attempt struct {
	Method, Path string
	At           time.Time // when the proxy received it
	ReqHeader    http.Header
	Status       int // 502 when the upstream could not be reached
	RespHeader   http.Header
	RespBody     []byte
}

// envelope decodes the attempt's error envelope.
func (a attempt) envelope(t *testing.T) envelopeError {
	t.Helper()
	var env struct {
		Error *envelopeError `json:"error"`
	}
	if err := json.Unmarshal(a.RespBody, &env); err != nil || env.Error == nil {
		t.Fatalf("%s %s: %d response has no error envelope: %s", a.Method, a.Path, a.Status, a.RespBody)
	}
	return *env.Error
}

// envelopeError is the server's error object, as the wire carries it.
type envelopeError struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param"`
}

// proxy is a counting reverse proxy in front of a server. It records every
// request that reaches it, in arrival order, with the response it got, so a
// test can count an SDK's attempts per method and path and time them.
type proxy struct {
	URL string

	mu       sync.Mutex
	attempts []*attempt
}

// proxyOption changes the proxy's behaviour.
type proxyOption func(*httputil.ReverseProxy)

// withResponseHeader makes the proxy set a header on every response whose
// status is status, or delete it when value is empty: a counterfactual,
// "what would the SDK do if the server sent (or did not send) this header".
// The attempt records the response as the SDK received it.
func withResponseHeader(status int, name, value string) proxyOption {
	return func(rp *httputil.ReverseProxy) {
		next := rp.ModifyResponse
		rp.ModifyResponse = func(res *http.Response) error {
			if res.StatusCode == status {
				if value == "" {
					res.Header.Del(name)
				} else {
					res.Header.Set(name, value)
				}
			}
			return next(res)
		}
	}
}

// newProxy starts a counting reverse proxy to s, closed when the test ends.
func newProxy(t *testing.T, s *server, opts ...proxyOption) *proxy {
	t.Helper()
	target, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{}
	type recKey struct{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) },
		ModifyResponse: func(res *http.Response) error {
			body, err := io.ReadAll(res.Body)
			_ = res.Body.Close()
			if err != nil {
				return err
			}
			res.Body = io.NopCloser(bytes.NewReader(body))
			a := res.Request.Context().Value(recKey{}).(*attempt)
			p.mu.Lock()
			a.Status, a.RespHeader, a.RespBody = res.StatusCode, res.Header.Clone(), body
			p.mu.Unlock()
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			a := r.Context().Value(recKey{}).(*attempt)
			p.mu.Lock()
			a.Status = http.StatusBadGateway
			p.mu.Unlock()
			t.Logf("proxy: %s %s: %v", r.Method, r.URL.Path, err)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	for _, o := range opts {
		o(rp)
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := &attempt{Method: r.Method, Path: r.URL.Path, At: time.Now(), ReqHeader: r.Header.Clone()}
		p.mu.Lock()
		p.attempts = append(p.attempts, a)
		p.mu.Unlock()
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), recKey{}, a)))
	}))
	t.Cleanup(hs.Close)
	p.URL = hs.URL
	return p
}

// all returns copies of the attempts for method and path, in arrival order.
func (p *proxy) all(method, path string) []attempt {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []attempt
	for _, a := range p.attempts {
		if a.Method == method && a.Path == path {
			out = append(out, *a)
		}
	}
	return out
}

// count is the number of attempts for method and path.
func (p *proxy) count(method, path string) int { return len(p.all(method, path)) }

// last returns the last attempt for method and path.
func (p *proxy) last(t *testing.T, method, path string) attempt {
	t.Helper()
	as := p.all(method, path)
	if len(as) == 0 {
		t.Fatalf("no %s %s reached the proxy", method, path)
	}
	return as[len(as)-1]
}

// gaps returns the times between consecutive attempts.
func gaps(as []attempt) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(as); i++ {
		out = append(out, as[i].At.Sub(as[i-1].At))
	}
	return out
}

// statuses returns the statuses of the attempts, e.g. "409 409 201".
func statuses(as []attempt) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = strconv.Itoa(a.Status)
	}
	return strings.Join(s, " ")
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// row is one error row of the table driven through POST /v1/generations, as
// every SDK sees it.
type row struct {
	name      string
	key       string
	body      map[string]any
	status    int
	code      string
	typ       string
	param     string
	retryable bool // the contract's "retryable" column
}

const pathGenerations = "/v1/generations"

// rows are the POST /v1/generations rows reachable with one request on a
// server with a high rate limit. 409 (both), 429 and the typed GET routes
// have their own tests.
func generationRows() []row {
	fast := func(extra map[string]any) map[string]any {
		b := map[string]any{"model": "clipia-fast", "prompt": "a red fox in the snow"}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	return []row{
		{name: "400 missing prompt", key: keyFull, body: map[string]any{"model": "clipia-fast"},
			status: 400, code: "invalid_request", typ: "invalid_request_error", param: "prompt"},
		{name: "401 revoked key", key: keyRevoked, body: fast(nil),
			status: 401, code: "invalid_api_key", typ: "authentication_error"},
		{name: "402 no credits", key: keyNoCredits, body: fast(nil),
			status: 402, code: "insufficient_credits", typ: "invalid_request_error"},
		{name: "403 read-only key", key: keyReadonly, body: fast(nil),
			status: 403, code: "insufficient_scope", typ: "permission_error"},
		{name: "404 unknown model", key: keyFull, body: map[string]any{"model": "clipia-x", "prompt": "p"},
			status: 404, code: "not_found", typ: "invalid_request_error", param: "model"},
		{name: "422 duration over the model's maximum", key: keyFull, body: fast(map[string]any{"duration": 60}),
			status: 422, code: "model_input_invalid", typ: "invalid_request_error", param: "duration"},
		{name: "500 clipia-faulty", key: keyFull, body: map[string]any{"model": "clipia-faulty", "prompt": "p"},
			status: 500, code: "internal_error", typ: "api_error", retryable: true},
		{name: "503 clipia-maintenance", key: keyFull, body: map[string]any{"model": "clipia-maintenance", "prompt": "p"},
			status: 503, code: "service_unavailable", typ: "api_error", retryable: true},
	}
}

// checkSanitised fails when a message leaks the faulty model's internals.
func checkSanitised(t *testing.T, msg string) {
	t.Helper()
	for _, leak := range []string{"10.20.30.40", "5432", "db-primary", "dial tcp"} {
		if strings.Contains(msg, leak) {
			t.Errorf("message %q leaks %q", msg, leak)
		}
	}
}
