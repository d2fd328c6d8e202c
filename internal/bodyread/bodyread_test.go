package bodyread_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/bodyread"
)

// bound is how long a test waits for an answer: far above the read
// timeouts used here, so only a server that never answers fails it.
const bound = 10 * time.Second

const testTimeout = 300 * time.Millisecond

// echoHandler answers the body read by bodyread.Read with 200 and the body,
// or the error's status and message.
func echoHandler(limit int64, timeout time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		data, err := bodyread.Read(nil, w, r, limit, timeout)
		if err != nil {
			w.WriteHeader(err.Status())
			io.WriteString(w, err.Message())
			return
		}
		w.Write(data)
	}
}

// noDeadlines hides every optional interface of the writer it wraps, as a
// middleware's writer without an Unwrap method does.
type noDeadlines struct{ http.ResponseWriter }

// dribble opens a raw connection to addr, sends head, then the bytes of
// body one by one, every gap, until the server answers, closes or the bound
// passes. It returns the response (with its body read) and, with
// checkClose, whether the server then closed the connection.
func dribble(t *testing.T, addr, head, body string, gap time.Duration, checkClose bool) (*http.Response, string, bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(bound)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(gap)
		defer t.Stop()
		for i := 0; i < len(body); i++ {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if _, err := conn.Write([]byte{body[i]}); err != nil {
				return
			}
		}
	}()
	defer func() { close(stop); <-done }()

	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer before %v: %v", bound, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	if !checkClose {
		return resp, string(b), false
	}
	_, err = br.ReadByte()
	closed := err == io.EOF || (err != nil && !isTimeout(err))
	return resp, string(b), closed
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func post(path string, header ...string) string {
	return "POST " + path + " HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n" +
		strings.Join(header, "\r\n") + "\r\n\r\n"
}

// A client that sends its headers and then its body a byte at a time, or
// nothing at all, is answered 400 once the read timeout passes, and the
// connection is closed: it holds no handler or connection any longer.
func TestReadSlowBody(t *testing.T) {
	dribbled := strings.Repeat("a", 1000)
	tests := []struct {
		name    string
		handler http.Handler
		head    string
		body    string
		gap     time.Duration
		open    bool // the connection may stay open (the server's timeouts close it)
	}{
		{name: "content-length, dribbled", handler: echoHandler(1<<20, testTimeout),
			head: post("/", "Content-Length: 1000"), body: dribbled, gap: 20 * time.Millisecond},
		{name: "content-length, nothing sent", handler: echoHandler(1<<20, testTimeout),
			head: post("/", "Content-Length: 1000"), gap: time.Millisecond},
		{name: "chunked, dribbled", handler: echoHandler(1<<20, testTimeout),
			head: post("/", "Transfer-Encoding: chunked"), body: "3e8\r\n" + dribbled, gap: 20 * time.Millisecond},
		{name: "request context deadline, default timeout", handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), testTimeout)
			defer cancel()
			echoHandler(1<<20, 0)(w, r.WithContext(ctx))
		}), head: post("/", "Content-Length: 1000"), body: dribbled, gap: 20 * time.Millisecond},
		// Where the writer cannot set deadlines, the clock still cuts off
		// a client that trickles bytes; net/http then reads the rest of a
		// small body before closing, which only its own timeouts bound.
		{name: "writer without deadlines, dribbled", handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			echoHandler(1<<20, testTimeout)(noDeadlines{w}, r)
		}), head: post("/", "Content-Length: 1000"), body: dribbled, gap: 5 * time.Millisecond, open: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			resp, body, closed := dribble(t, srv.Listener.Addr().String(), tc.head, tc.body, tc.gap, !tc.open)
			if resp.StatusCode != http.StatusBadRequest || body != "The request body was not received in time." {
				t.Fatalf("got %d %q, want 400 %q", resp.StatusCode, body, "The request body was not received in time.")
			}
			if !tc.open && !closed {
				t.Error("the connection stayed open after the answer")
			}
		})
	}
}

// A handler that runs past the read timeout after reading its body keeps
// its request context: the deadline is cleared once the body is in, so
// net/http's background read, which watches for a hang-up once the body
// is at its end, does not time out and cancel it. Here an earlier reader
// (as the idempotency middleware is) took the body and put back a copy, so
// that read is already waiting when Read sets its deadline.
//
// The timeout is 1s: a stall of the handler longer than the timeout between
// Read setting the deadline and clearing it would cancel the context of a
// correct Read (100ms did, under load). The handler then waits two
// timeouts, long enough for a deadline left set to cancel it.
func TestReadClearsDeadline(t *testing.T) {
	const timeout = time.Second
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, rerr := io.ReadAll(r.Body)
		if rerr != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		if _, err := bodyread.Read(nil, w, r, 1<<10, timeout); err != nil {
			w.WriteHeader(err.Status())
			return
		}
		select {
		case <-r.Context().Done():
			w.WriteHeader(http.StatusServiceUnavailable)
		case <-time.After(2 * timeout):
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer srv.Close()
	resp, err := srv.Client().Post(srv.URL, "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got %d, want 200: the request context was cancelled after the body was read", resp.StatusCode)
	}
}

// chunked hides a reader's length.
type chunked struct{ io.Reader }

type failing struct{ err error }

func (f failing) Read([]byte) (int, error) { return 0, f.err }

func TestRead(t *testing.T) {
	tests := []struct {
		name        string
		body        io.Reader
		length      int64 // -1: unknown
		limit       int64
		wantBody    string
		wantStatus  int
		wantMessage string
	}{
		{name: "declared length", body: strings.NewReader(`{"a":1}`), length: 7, limit: 8, wantBody: `{"a":1}`},
		{name: "exactly the limit", body: strings.NewReader(`{"a":1}`), length: 7, limit: 7, wantBody: `{"a":1}`},
		{name: "unknown length", body: chunked{strings.NewReader(`{"a":1}`)}, length: -1, limit: 7, wantBody: `{"a":1}`},
		{name: "no limit", body: chunked{strings.NewReader(`{"a":1}`)}, length: -1, limit: 0, wantBody: `{"a":1}`},
		{name: "empty", body: http.NoBody, length: 0, limit: 8, wantBody: ``},
		{name: "declared over the limit", body: strings.NewReader(`{"a":12}`), length: 8, limit: 7,
			wantStatus: 400, wantMessage: "request body is larger than 7 bytes"},
		{name: "unknown length over the limit", body: chunked{strings.NewReader(`{"a":12}`)}, length: -1, limit: 7,
			wantStatus: 400, wantMessage: "request body is larger than 7 bytes"},
		{name: "longer than declared", body: strings.NewReader(`{"a":12}`), length: 7, limit: 7,
			wantStatus: 400, wantMessage: "request body is larger than 7 bytes"},
		{name: "broken", body: failing{io.ErrUnexpectedEOF}, length: -1, limit: 7,
			wantStatus: 400, wantMessage: "The request body could not be read."},
		{name: "timeout from the body", body: failing{fmt.Errorf("read tcp: %w", errTimeout{})}, length: -1, limit: 7,
			wantStatus: 400, wantMessage: "The request body was not received in time."},
		{name: "client gone", body: failing{context.Canceled}, length: -1, limit: 7,
			wantStatus: 503, wantMessage: "The request was cancelled before it completed."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/", tc.body)
			req.ContentLength = tc.length
			rec := httptest.NewRecorder()
			data, err := bodyread.Read(make([]byte, 0, 2), rec, req, tc.limit, testTimeout)
			if tc.wantStatus == 0 {
				if err != nil || string(data) != tc.wantBody {
					t.Fatalf("got %q %v, want %q", data, err, tc.wantBody)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %q and no error, want %d %q", data, tc.wantStatus, tc.wantMessage)
			}
			if err.Status() != tc.wantStatus || err.Message() != tc.wantMessage {
				t.Errorf("got %d %q, want %d %q", err.Status(), err.Message(), tc.wantStatus, tc.wantMessage)
			}
			if row, ok := errorsx.Lookup(err.Code()); !ok || row.Status != err.Status() {
				t.Errorf("got %d %s, not a row of the catalogue", err.Status(), err.Code())
			}
		})
	}
}

type errTimeout struct{}

func (errTimeout) Error() string   { return "i/o timeout" }
func (errTimeout) Timeout() bool   { return true }
func (errTimeout) Temporary() bool { return true }
