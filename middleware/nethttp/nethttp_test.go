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
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/internal/alloctest"
	"github.com/clipia/apiguard/internal/logtest"
	"github.com/clipia/apiguard/middleware/nethttp"
)

// TestMain sends the default renderer's log (Error without Install) to
// nowhere.
func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

const notFoundBody = `{"error":{"type":"invalid_request_error","code":"not_found","message":"The requested resource was not found."}}`

func discard() errorsx.HandlerConfig {
	return errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)}
}

// serve sends method target (sent as is, never cleaned) to h.
func serve(h http.Handler, method, target string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/", nil)
	u, err := url.ParseRequestURI(target)
	if err != nil {
		panic(err)
	}
	req.URL, req.RequestURI = u, target
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// write answers with the method and pattern the handler saw.
func write(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, r.Method+" "+r.Pattern)
}

// TestNoRedirects: the paths ServeMux would redirect (a path to clean, a
// tree without its slash) and wrong methods are the 404 envelope, without
// the mux's Location, Allow or X-Content-Type-Options.
func TestNoRedirects(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", write)
	mux.HandleFunc("/files/", write)
	mux.HandleFunc("GET /docs/{$}", write)
	mux.HandleFunc("POST /jobs", write)
	h := nethttp.Install(mux, nethttp.Config{Errors: discard()})
	for _, tc := range []struct {
		method, target string
		status         int
		body           string
	}{
		{"GET", "/items/1", 200, "GET GET /items/{id}"},
		{"GET", "/files/", 200, "GET /files/"},
		{"DELETE", "/files/a/b", 200, "DELETE /files/"},
		{"GET", "/docs/", 200, "GET GET /docs/{$}"},
		{"GET", "//items/1", 404, notFoundBody},
		{"GET", "/items//1", 404, notFoundBody},
		{"GET", "/items/./1", 404, notFoundBody},
		{"GET", "/items/../items/1", 404, notFoundBody},
		{"GET", "/items/%2E%2E/items/1", 404, notFoundBody},
		{"GET", "/files", 404, notFoundBody},
		{"GET", "/files?x=1", 404, notFoundBody},
		{"POST", "/files", 404, notFoundBody},
		{"GET", "/docs", 404, notFoundBody},
		{"GET", "/nope", 404, notFoundBody},
		{"POST", "/items/1", 404, notFoundBody},
		{"GET", "/jobs", 404, notFoundBody},
		{"HEAD", "/jobs", 404, ""},
		{"HEAD", "/files", 404, ""},
	} {
		rec := serve(h, tc.method, tc.target)
		hdr := rec.Header()
		if rec.Code != tc.status || rec.Body.String() != tc.body {
			t.Errorf("%s %s: got %d %q, want %d %q", tc.method, tc.target, rec.Code, rec.Body, tc.status, tc.body)
		}
		if tc.status == 404 && (hdr.Get("Location") != "" || hdr.Get("Allow") != "" || hdr.Get("X-Content-Type-Options") != "" ||
			hdr.Get("Content-Type") != errorsx.ContentTypeJSON || hdr.Get("Content-Length") != fmt.Sprint(len(notFoundBody))) {
			t.Errorf("%s %s: got headers %v", tc.method, tc.target, hdr)
		}
	}
}

// TestHandlerRedirects: a handler's own redirects go out.
func TestHandlerRedirects(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET /old", http.RedirectHandler("/new", http.StatusTemporaryRedirect))
	mux.Handle("GET /dir", http.RedirectHandler("/dir/x", http.StatusMovedPermanently))
	h := nethttp.Install(mux, nethttp.Config{Errors: discard()})
	for target, loc := range map[string]string{"/old": "/new", "/dir": "/dir/x"} {
		if rec := serve(h, "GET", target); rec.Code/100 != 3 || rec.Header().Get("Location") != loc {
			t.Errorf("%s: got %d %v", target, rec.Code, rec.Header())
		}
	}
}

// TestUse: guards see the canonical route and the path parameters; on an
// unknown path they do not run; their errors render through Install's
// renderer and are logged with the route.
func TestUse(t *testing.T) {
	var logs logtest.Buffer
	var seen []string
	see := guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
		seen = append(seen, r.Method+" "+c.Route()+" "+c.Param("id"))
		if r.URL.Query().Has("deny") {
			return errorsx.RateLimitExceeded()
		}
		return c.Next(w, r)
	})
	mux := http.NewServeMux()
	mux.Handle("GET /items/{id}", nethttp.Use(see)(http.HandlerFunc(write)))
	mux.Handle("/tree/{rest...}", nethttp.Use(see)(http.HandlerFunc(write)))
	h := nethttp.Install(mux, nethttp.Config{Errors: errorsx.HandlerConfig{Logger: logs.Logger()}})

	serve(h, "GET", "/items/7")
	serve(h, "HEAD", "/items/8")
	serve(h, "PUT", "/tree/a/b")
	serve(h, "GET", "/items")
	serve(h, "POST", "/items/7")
	if got, want := strings.Join(seen, ","), "GET /items/{id} 7,GET /items/{id} 8,PUT /tree/{rest} "; got != want {
		t.Errorf("guards saw %q, want %q", got, want)
	}
	logs.Reset()
	rec := serve(h, "GET", "/items/9?deny")
	if rec.Code != 429 || !strings.Contains(rec.Body.String(), "rate_limit_exceeded") {
		t.Errorf("got %d %s", rec.Code, rec.Body)
	}
	if recs := logs.Records(t, ""); len(recs) != 1 || recs[0]["route"] != "/items/{id}" {
		t.Errorf("got records %v, want one with the canonical route", recs)
	}
}

// TestHead: HEAD runs as GET on a GET pattern and drops the body, with
// GET's Content-Length; a HEAD pattern of its own keeps HEAD; an error's
// HEAD has GET's headers.
func TestHead(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /get", write)
	mux.HandleFunc("HEAD /own", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Method", r.Method)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /own", write)
	mux.Handle("GET /fail", nethttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return errorsx.RateLimitExceeded()
	}))
	h := nethttp.Install(mux, nethttp.Config{Errors: discard()})

	get, head := serve(h, "GET", "/get"), serve(h, "HEAD", "/get")
	if get.Body.String() != "GET GET /get" || head.Code != 200 || head.Body.Len() != 0 ||
		head.Header().Get("Content-Length") != fmt.Sprint(get.Body.Len()) || head.Header().Get("Content-Type") != "text/plain" {
		t.Errorf("got GET %q, HEAD %d %v %q", get.Body, head.Code, head.Header(), head.Body)
	}
	if rec := serve(h, "HEAD", "/own"); rec.Code != 204 || rec.Header().Get("X-Method") != "HEAD" || rec.Body.Len() != 0 {
		t.Errorf("own HEAD: got %d %v %q", rec.Code, rec.Header(), rec.Body)
	}
	get, head = serve(h, "GET", "/fail"), serve(h, "HEAD", "/fail")
	for _, k := range []string{"Content-Length", "Content-Type", "Retry-After", "X-Should-Retry"} {
		if g, hv := get.Header().Get(k), head.Header().Get(k); g != hv || g == "" {
			t.Errorf("%s: GET %q, HEAD %q", k, g, hv)
		}
	}
	if head.Code != 429 || head.Body.Len() != 0 || get.Body.Len() == 0 {
		t.Errorf("got HEAD %d %q", head.Code, head.Body)
	}
}

// TestErrorAfterWrite: an error after the handler wrote its response is
// logged once, never written over it.
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
			var logs logtest.Buffer
			mux := http.NewServeMux()
			mux.Handle("GET /x/{id}", nethttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				tc.write(w)
				return errorsx.ServiceUnavailable()
			}))
			h := nethttp.Install(mux, nethttp.Config{Errors: errorsx.HandlerConfig{Logger: logs.Logger()}})
			rec := serve(h, "GET", "/x/1")
			if rec.Code == 503 || strings.Contains(rec.Body.String(), "service_unavailable") {
				t.Errorf("got %d %q: the error was written over the response", rec.Code, rec.Body)
			}
			recs := logs.Records(t, "")
			if len(recs) != 1 || recs[0]["msg"] != "error after response was committed" || recs[0]["route"] != "/x/{id}" {
				t.Errorf("got records %v, want one about the committed response", recs)
			}
		})
	}
}

// TestWriterInterfaces: the writer handlers get keeps Flusher, Hijacker and
// Unwrap, and a hijacked response counts as written.
func TestWriterInterfaces(t *testing.T) {
	var logs logtest.Buffer
	var got []string
	mux := http.NewServeMux()
	mux.Handle("GET /ws", nethttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if _, ok := w.(http.Flusher); ok {
			got = append(got, "flusher")
		}
		if _, ok := w.(interface{ Unwrap() http.ResponseWriter }); ok {
			got = append(got, "unwrap")
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return err
		}
		defer conn.Close()
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
		_ = buf.Flush()
		return errors.New("after hijack")
	}))
	inner := nethttp.Install(mux, nethttp.Config{Errors: errorsx.HandlerConfig{Logger: logs.Logger()}})
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
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
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

// TestRequestLevelGuards: they run for unknown paths too; a recovered
// panic is one 500 logged with the route.
func TestRequestLevelGuards(t *testing.T) {
	var logs logtest.Buffer
	mux := http.NewServeMux()
	mux.HandleFunc("GET /panic/{id}", func(http.ResponseWriter, *http.Request) { panic("boom") })
	h := nethttp.Install(mux, nethttp.Config{
		Errors: errorsx.HandlerConfig{Logger: logs.Logger()},
		Use:    []guard.Guard{guard.RequestID(guard.RequestIDConfig{}), guard.Must(guard.Recover(guard.RecoverConfig{}))},
	})
	for _, target := range []string{"/nope", "//x", "/panic/1"} {
		if rec := serve(h, "GET", target); rec.Header().Get(errorsx.HeaderRequestID) == "" {
			t.Errorf("%s: no request id", target)
		}
	}
	rec := serve(h, "GET", "/panic/1")
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "boom") {
		t.Errorf("got %d %s", rec.Code, rec.Body)
	}
	recs := logs.Records(t, "")
	if n := len(recs); n != 4 || recs[3]["route"] != "/panic/{id}" || recs[3]["stack"] == nil {
		t.Errorf("got records %v", recs)
	}
}

// TestWithoutServeMux: another handler gets every clean path; HEAD stays
// HEAD, its body dropped with its Content-Length.
func TestWithoutServeMux(t *testing.T) {
	h := nethttp.Install(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Method+" "+strings.Repeat("x", 5000))
	}), nethttp.Config{Errors: discard()})
	if rec := serve(h, "GET", "/anything"); rec.Code != 200 || !strings.HasPrefix(rec.Body.String(), "GET ") {
		t.Errorf("GET: got %d %.10q", rec.Code, rec.Body)
	}
	if rec := serve(h, "HEAD", "/anything"); rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") != "5005" {
		t.Errorf("HEAD: got %d %v %q", rec.Code, rec.Header(), rec.Body)
	}
	if rec := serve(h, "GET", "/a/../b"); rec.Code != 404 {
		t.Errorf("odd path: got %d", rec.Code)
	}
}

// TestErrorWithoutInstall: Error and NotFound render with a default
// renderer; nil and rendered errors write nothing.
func TestErrorWithoutInstall(t *testing.T) {
	rec := httptest.NewRecorder()
	nethttp.Error(rec, httptest.NewRequest("GET", "/x", nil), &http.MaxBytesError{Limit: 10})
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"code":"invalid_request"`) {
		t.Errorf("got %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	rec.Header().Set("Allow", "GET") // as a router sets it
	nethttp.NotFound(rec, httptest.NewRequest("POST", "/x", nil))
	if rec.Code != 404 || rec.Body.String() != notFoundBody || rec.Header().Get("Allow") != "" {
		t.Errorf("NotFound: got %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	rec = httptest.NewRecorder()
	nethttp.Error(rec, httptest.NewRequest("GET", "/x", nil), nil)
	nethttp.Error(rec, httptest.NewRequest("GET", "/x", nil), errorsx.Rendered(errorsx.NotFound()))
	if rec.Body.Len() != 0 || len(rec.Header()) != 0 {
		t.Errorf("nil and rendered errors wrote %v %q", rec.Header(), rec.Body)
	}
}

// TestConcurrent: the pooled per-request values never mix requests (run
// with -race).
func TestConcurrent(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET /e/{n}", nethttp.Use(guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
		if c.Param("n") != r.PathValue("n") {
			return errors.New("param mixed up")
		}
		return c.Next(w, r)
	}))(nethttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if r.PathValue("n") == "0" {
			_, _ = io.WriteString(w, "ok")
			return nil
		}
		return errorsx.InvalidRequest().WithParam("n" + r.PathValue("n"))
	})))
	srv := httptest.NewServer(nethttp.Install(mux, nethttp.Config{Errors: discard()}))
	defer srv.Close()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				n := (i*20 + j) % 5
				res, err := srv.Client().Get(fmt.Sprintf("%s/e/%d", srv.URL, n))
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				body := string(b)
				if n == 0 && (res.StatusCode != 200 || body != "ok") ||
					n != 0 && (res.StatusCode != 400 || !strings.Contains(body, fmt.Sprintf(`"param":"n%d"`, n))) {
					t.Errorf("/e/%d: got %d %s", n, res.StatusCode, body)
				}
			}
		})
	}
	wg.Wait()
}

// TestAllocations: the door and a guard chain add no allocation to a
// request on a ServeMux.
func TestAllocations(t *testing.T) {
	pass := guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error { _ = c.Route(); return c.Next(w, r) })
	mux := http.NewServeMux()
	mux.Handle("GET /items/{id}", nethttp.Use(pass, pass)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})))
	h := nethttp.Install(mux, nethttp.Config{Errors: discard()})
	req := httptest.NewRequest("GET", "/items/1", nil)
	rec := httptest.NewRecorder()
	bare := alloctest.PerRun(100, func() { mux.ServeHTTP(rec, req) })
	door := alloctest.PerRun(100, func() { h.ServeHTTP(rec, req) })
	t.Logf("allocations per request: %.0f through the door, %.0f on the bare mux", door, bare)
	if door > bare {
		t.Errorf("got %.0f allocations through the door, %.0f on the bare mux", door, bare)
	}
}
