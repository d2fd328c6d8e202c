package nethttp_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/nethttp"
)

func discard() errorsx.HandlerConfig {
	return errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)}
}

// TestErrorOnce: Error renders once; a second error on the same request
// writes nothing and is logged once, unless it is the same error again.
func TestErrorOnce(t *testing.T) {
	logger, logs := newLogger()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /twice", func(w http.ResponseWriter, r *http.Request) {
		nethttp.Error(w, r, errorsx.RateLimitExceeded())
		nethttp.Error(w, r, errorsx.RateLimitExceeded()) // the same: nothing at all
		nethttp.Error(w, r, errors.New("later"))         // another: logged, not written
	})
	srv := httptest.NewServer(nethttp.Must(nethttp.Handler(mux, nethttp.Config{Errors: errorsx.HandlerConfig{Logger: logger}})))
	defer srv.Close()

	res, body := get(t, srv, "GET", "/twice")
	if res.StatusCode != 429 || strings.Count(body, `"error"`) != 1 || !strings.Contains(body, "rate_limit_exceeded") {
		t.Fatalf("got %d %s, want one 429 envelope", res.StatusCode, body)
	}
	recs := logs.Records(t, "")
	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2: %v", len(recs), recs)
	}
	if recs[0]["msg"] != "request failed" || recs[1]["msg"] != "error after response was committed" ||
		recs[1]["level"] != "ERROR" || recs[1]["status"] != float64(429) || recs[1]["route"] != "GET /twice" {
		t.Errorf("got %v", recs)
	}
}

// TestErrorAfterWrite: an error after the handler wrote its response is
// logged, never written over it.
func TestErrorAfterWrite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(w http.ResponseWriter)
	}{
		{"WriteHeader", func(w http.ResponseWriter) { w.WriteHeader(http.StatusAccepted) }},
		{"Write", func(w http.ResponseWriter) { _, _ = io.WriteString(w, "partial") }},
		{"Flush", func(w http.ResponseWriter) { w.(http.Flusher).Flush() }},
		{"ResponseController", func(w http.ResponseWriter) { _ = http.NewResponseController(w).Flush() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logger, logs := newLogger()
			h := nethttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				tc.write(w)
				return errorsx.ServiceUnavailable()
			})
			srv := httptest.NewServer(nethttp.Must(nethttp.Handler(h, nethttp.Config{Errors: errorsx.HandlerConfig{Logger: logger}})))
			defer srv.Close()
			res, body := get(t, srv, "GET", "/")
			if res.StatusCode == 503 || strings.Contains(body, "service_unavailable") {
				t.Errorf("got %d %q: the error was written over the response", res.StatusCode, body)
			}
			if recs := logs.Records(t, ""); len(recs) != 1 || recs[0]["msg"] != "error after response was committed" {
				t.Errorf("got records %v, want one about the committed response", recs)
			}
		})
	}
}

// TestErrorWithoutHandler: Error still writes the envelope with a default
// renderer.
func TestErrorWithoutHandler(t *testing.T) {
	rec := httptest.NewRecorder()
	nethttp.Error(rec, httptest.NewRequest("GET", "/x", nil), errorsx.NotFound())
	if rec.Code != 404 || rec.Body.String() != notFoundBody || rec.Header().Get(errorsx.HeaderRequestID) == "" {
		t.Errorf("got %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	rec = httptest.NewRecorder()
	nethttp.Error(rec, httptest.NewRequest("GET", "/x", nil), nil)
	nethttp.Error(rec, httptest.NewRequest("GET", "/x", nil), errorsx.Rendered(errorsx.NotFound()))
	if rec.Body.Len() != 0 || len(rec.Header()) != 0 {
		t.Errorf("nil and rendered errors wrote %v %q", rec.Header(), rec.Body)
	}
}

// TestErrorMaps: validator-style and status-carrying errors map as on the
// Echo v5 door.
func TestErrorMaps(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{statusError(http.StatusNotFound), 404, "not_found"},
		{statusError(http.StatusMethodNotAllowed), 404, "not_found"},
		{fmt.Errorf("x: %w", statusError(http.StatusTooManyRequests)), 429, "rate_limit_exceeded"},
		{statusError(http.StatusTeapot), 400, "invalid_request"},
		{errors.New("plain"), 500, "internal_error"},
		{&http.MaxBytesError{Limit: 10}, 400, "invalid_request"},
	} {
		rec := httptest.NewRecorder()
		nethttp.Error(rec, httptest.NewRequest("GET", "/", nil), tc.err)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), `"code":"`+tc.code+`"`) {
			t.Errorf("%v: got %d %s, want %d %s", tc.err, rec.Code, rec.Body, tc.status, tc.code)
		}
	}
}

type statusError int

func (e statusError) Error() string   { return http.StatusText(int(e)) }
func (e statusError) StatusCode() int { return int(e) }

// TestWriterInterfaces: the writer Handler installs keeps Flusher,
// Hijacker and Unwrap, and a hijacked response counts as written.
func TestWriterInterfaces(t *testing.T) {
	logger, logs := newLogger()
	var got []string
	h := nethttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if _, ok := w.(http.Flusher); ok {
			got = append(got, "flusher")
		}
		if _, ok := w.(interface{ Unwrap() http.ResponseWriter }); ok {
			got = append(got, "unwrap")
		}
		hj, ok := w.(http.Hijacker)
		if !ok {
			return errors.New("no hijacker")
		}
		conn, buf, err := hj.Hijack()
		if err != nil {
			return err
		}
		defer conn.Close()
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
		_ = buf.Flush()
		return errors.New("after hijack")
	})
	inner := nethttp.Must(nethttp.Handler(h, nethttp.Config{Errors: errorsx.HandlerConfig{Logger: logger}}))
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || string(b) != "hi" {
		t.Errorf("got %d %q, want the hijacker's 200 hi", res.StatusCode, b)
	}
	<-done
	if strings.Join(got, ",") != "flusher,unwrap" {
		t.Errorf("writer implements %v, want flusher and unwrap", got)
	}
	if recs := logs.Records(t, ""); len(recs) != 1 || recs[0]["msg"] != "error after response was committed" {
		t.Errorf("got records %v, want one about the committed response", recs)
	}
}

// TestHandlerConfig: the configuration errors.
func TestHandlerConfig(t *testing.T) {
	if _, err := nethttp.Handler(nil, nethttp.Config{}); err == nil {
		t.Error("nil next: got no error")
	}
	if _, err := nethttp.Handler(http.NewServeMux(), nethttp.Config{Recover: nethttp.RecoverConfig{StackSize: -1}}); err == nil {
		t.Error("negative StackSize: got no error")
	}
}

// TestHandlerRouting: unknown routes and wrong methods are 404 before
// anything runs, through this package's middlewares around the mux too;
// without a router, every request reaches next.
func TestHandlerRouting(t *testing.T) {
	ran := 0
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.PathValue("id"))
	})
	count := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ran++; next.ServeHTTP(w, r) })
	}
	wrapped := nethttp.Must(nethttp.RequestID(nethttp.RequestIDConfig{}))(
		nethttp.Must(nethttp.Recover(nethttp.RecoverConfig{}))(
			nethttp.Must(nethttp.HeaderLimit(nethttp.HeaderLimitConfig{}))(mux)))
	for _, tc := range []struct {
		name string
		next http.Handler
	}{{"mux", mux}, {"middlewares around the mux", wrapped}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(count(nethttp.Must(nethttp.Handler(tc.next, nethttp.Config{Errors: discard()}))))
			defer srv.Close()
			for _, r := range []struct{ method, path string }{{"GET", "/nope"}, {"POST", "/items/1"}, {"GET", "/items"}, {"HEAD", "/nope"}} {
				res, body := get(t, srv, r.method, r.path)
				want := notFoundBody
				if r.method == "HEAD" {
					want = ""
				}
				if res.StatusCode != 404 || body != want || res.Header.Get("Allow") != "" ||
					res.Header.Get("Content-Length") != fmt.Sprint(len(notFoundBody)) {
					t.Errorf("%s %s: got %d %v %q, want the 404 envelope", r.method, r.path, res.StatusCode, res.Header, body)
				}
			}
			if res, body := get(t, srv, "GET", "/items/7"); res.StatusCode != 200 || body != "7" {
				t.Errorf("GET /items/7: got %d %q", res.StatusCode, body)
			}
		})
	}

	// Without a router: next answers everything, HEAD stays HEAD.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Method+" "+strings.Repeat("x", 5000))
	})
	srv := httptest.NewServer(nethttp.Must(nethttp.Handler(h, nethttp.Config{Errors: discard()})))
	defer srv.Close()
	if res, body := get(t, srv, "GET", "/anything"); res.StatusCode != 200 || !strings.HasPrefix(body, "GET ") {
		t.Errorf("GET: got %d %.10q", res.StatusCode, body)
	}
	res, body := get(t, srv, "HEAD", "/anything")
	if res.StatusCode != 200 || body != "" || res.Header.Get("Content-Length") != "5005" {
		t.Errorf("HEAD: got %d %v %q, want 200 with the Content-Length of HEAD's body and none", res.StatusCode, res.Header, body)
	}
}

// TestHeadPatterns: HEAD runs as GET on a GET pattern; a HEAD pattern of
// its own keeps HEAD; an error's HEAD has GET's headers.
func TestHeadPatterns(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, r.Method+" "+r.Pattern)
	})
	mux.HandleFunc("HEAD /own", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Method", r.Method)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /own", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "get") })
	mux.Handle("GET /fail", nethttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return errorsx.RateLimitExceeded()
	}))
	srv := httptest.NewServer(nethttp.Must(nethttp.Handler(mux, nethttp.Config{Errors: discard()})))
	defer srv.Close()

	getRes, getBody := get(t, srv, "GET", "/get")
	headRes, headBody := get(t, srv, "HEAD", "/get")
	if getBody != "GET GET /get" || headBody != "" || headRes.Header.Get("Content-Length") != fmt.Sprint(len(getBody)) ||
		headRes.Header.Get("Content-Type") != getRes.Header.Get("Content-Type") {
		t.Errorf("got GET %q %v, HEAD %q %v", getBody, getRes.Header, headBody, headRes.Header)
	}
	if res, body := get(t, srv, "HEAD", "/own"); res.StatusCode != 204 || res.Header.Get("X-Method") != "HEAD" || body != "" {
		t.Errorf("own HEAD: got %d %v %q", res.StatusCode, res.Header, body)
	}
	getRes, getBody = get(t, srv, "GET", "/fail")
	headRes, headBody = get(t, srv, "HEAD", "/fail")
	for _, k := range []string{"Content-Length", "Content-Type", "Retry-After", "X-Should-Retry"} {
		if g, h := getRes.Header.Get(k), headRes.Header.Get(k); g != h || g == "" {
			t.Errorf("%s: GET %q, HEAD %q", k, g, h)
		}
	}
	if headRes.StatusCode != 429 || headBody != "" || getBody == "" {
		t.Errorf("got HEAD %d %q", headRes.StatusCode, headBody)
	}
}

// TestHandlerRecover: a panic is one 500 envelope and one log record with
// the stack; http.ErrAbortHandler goes on; Skip leaves panics alone.
func TestHandlerRecover(t *testing.T) {
	logger, logs := newLogger()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	mux.HandleFunc("GET /abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	h := nethttp.Must(nethttp.Handler(mux, nethttp.Config{Errors: errorsx.HandlerConfig{Logger: logger},
		Recover: nethttp.RecoverConfig{Skip: func(r *http.Request) bool { return r.URL.Query().Has("skip") }}}))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/panic", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"code":"internal_error"`) || strings.Contains(rec.Body.String(), "boom") {
		t.Errorf("got %d %s", rec.Code, rec.Body)
	}
	recs := logs.Records(t, "")
	if len(recs) != 1 || recs[0]["level"] != "ERROR" || recs[0]["stack"] == nil || recs[0]["route"] != "GET /panic" ||
		!strings.Contains(fmt.Sprint(recs[0]["error"]), "panic recovered: boom") {
		t.Errorf("got records %v", recs)
	}
	for _, path := range []string{"/abort", "/panic?skip"} {
		func() {
			defer func() {
				if v := recover(); v == nil {
					t.Errorf("%s: the panic did not go on", path)
				}
			}()
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
		}()
	}
}

// TestRecoverMiddleware: the standalone middleware, with and without
// Handler.
func TestRecoverMiddleware(t *testing.T) {
	if _, err := nethttp.Recover(nethttp.RecoverConfig{StackSize: -1}); err == nil {
		t.Error("negative StackSize: got no error")
	}
	mw := nethttp.Must(nethttp.Recover(nethttp.RecoverConfig{StackSize: 64}))
	var h http.Handler = mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/abort" {
			panic(http.ErrAbortHandler)
		}
		panic(errors.New("boom"))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "internal_error") {
		t.Errorf("got %d %s", rec.Code, rec.Body)
	}
	func() {
		defer func() {
			if recover() != http.ErrAbortHandler {
				t.Error("ErrAbortHandler was not re-panicked")
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/abort", nil))
	}()
	// Inside Handler, with Handler's renderer.
	logger, logs := newLogger()
	h = nethttp.Must(nethttp.Handler(h, nethttp.Config{Errors: errorsx.HandlerConfig{Logger: logger, ProblemJSON: true}}))
	rec = httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Accept", "application/problem+json")
	h.ServeHTTP(rec, req)
	if rec.Code != 500 || rec.Header().Get("Content-Type") != errorsx.ContentTypeProblem {
		t.Errorf("got %d %v: not Handler's renderer", rec.Code, rec.Header())
	}
	if recs := logs.Records(t, ""); len(recs) != 1 || recs[0]["stack"] == nil {
		t.Errorf("got records %v", recs)
	}
}

// TestRequestID: the id is set first, echoed when sane, and Skip skips it.
func TestRequestID(t *testing.T) {
	var seen string
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = w.Header().Get(errorsx.HeaderRequestID) })
	mw := nethttp.Must(nethttp.RequestID(nethttp.RequestIDConfig{SendRequestID: true,
		Skip: func(r *http.Request) bool { return r.URL.Path == "/skip" }}))
	for _, tc := range []struct{ path, in, want string }{
		{"/", "req_1", "req_1"},
		{"/", "bad id", "new"},
		{"/skip", "req_1", ""},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", tc.path, nil)
		req.Header.Set(errorsx.HeaderRequestID, tc.in)
		mw(next).ServeHTTP(rec, req)
		switch tc.want {
		case "new":
			if seen == "" || seen == tc.in || rec.Header().Get(errorsx.HeaderRequestIDStripe) != seen {
				t.Errorf("%q: got %q %v, want a new id on both headers", tc.in, seen, rec.Header())
			}
		default:
			if seen != tc.want || rec.Header().Get(errorsx.HeaderRequestIDStripe) != tc.want {
				t.Errorf("%s %q: got %q %v, want %q", tc.path, tc.in, seen, rec.Header(), tc.want)
			}
		}
	}
	// Handler does the same with its Config.
	h := nethttp.Must(nethttp.Handler(next, nethttp.Config{Errors: discard(), RequestID: nethttp.RequestIDConfig{SendRequestID: true}}))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set(errorsx.HeaderRequestID, "req_2")
	h.ServeHTTP(rec, req)
	if seen != "req_2" || rec.Header().Get(errorsx.HeaderRequestIDStripe) != "req_2" {
		t.Errorf("Handler: got %q %v", seen, rec.Header())
	}
}

// TestHeaderLimit: over the limit is a 400 envelope; Skip and a negative
// MaxBytes.
func TestHeaderLimit(t *testing.T) {
	if _, err := nethttp.HeaderLimit(nethttp.HeaderLimitConfig{MaxBytes: -1}); err == nil {
		t.Error("negative MaxBytes: got no error")
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	mw := nethttp.Must(nethttp.HeaderLimit(nethttp.HeaderLimitConfig{MaxBytes: 200,
		Skip: func(r *http.Request) bool { return r.URL.Path == "/skip" }}))
	for _, tc := range []struct {
		path string
		big  int
		want int
	}{{"/", 10, 204}, {"/", 300, 400}, {"/skip", 300, 204}} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", tc.path, nil)
		req.Header.Set("X-Big", strings.Repeat("b", tc.big))
		mw(ok).ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s with %d bytes: got %d, want %d", tc.path, tc.big, rec.Code, tc.want)
		}
		if tc.want == 400 && !strings.Contains(rec.Body.String(), "at most 200 bytes") {
			t.Errorf("got %s", rec.Body)
		}
	}
}

// TestNotFoundHandlers: the handlers for other routers answer as Handler
// answers an unknown route.
func TestNotFoundHandlers(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{"NotFound": nethttp.NotFound, "MethodNotAllowed": nethttp.MethodNotAllowed} {
		rec := httptest.NewRecorder()
		rec.Header().Set("Allow", "GET") // as chi sets it
		h(rec, httptest.NewRequest("POST", "/x", nil))
		if rec.Code != 404 || rec.Body.String() != notFoundBody {
			t.Errorf("%s: got %d %s", name, rec.Code, rec.Body)
		}
	}
}

// TestHandlerFunc: a nil error writes nothing more.
func TestHandlerFunc(t *testing.T) {
	rec := httptest.NewRecorder()
	nethttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 204 || rec.Body.Len() != 0 {
		t.Errorf("got %d %q", rec.Code, rec.Body)
	}
}

// TestHandlerConcurrent: the pooled writers never mix requests (run with
// -race).
func TestHandlerConcurrent(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET /e/{n}", nethttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if r.PathValue("n") == "0" {
			_, _ = io.WriteString(w, "ok")
			return nil
		}
		return errorsx.InvalidRequest().WithParam("n" + r.PathValue("n"))
	}))
	srv := httptest.NewServer(nethttp.Must(nethttp.Handler(mux, nethttp.Config{Errors: discard()})))
	defer srv.Close()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				n := (i*20 + j) % 5
				res, body := get(t, srv, "GET", fmt.Sprintf("/e/%d", n))
				if n == 0 && (res.StatusCode != 200 || body != "ok") ||
					n != 0 && (res.StatusCode != 400 || !strings.Contains(body, fmt.Sprintf(`"param":"n%d"`, n))) {
					t.Errorf("/e/%d: got %d %s", n, res.StatusCode, body)
				}
			}
		})
	}
	wg.Wait()
}
