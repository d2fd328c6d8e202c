package app

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The timeout tests hold many raw TCP connections against a server started
// with short timeouts, and check that the server, not the client, ends
// them. The bounds they wait for are generous (seconds against timeouts of
// a few hundred milliseconds), so a slow machine does not fail them; a
// server without the timeout keeps the connections open for ever and does.

// conns is how many connections each test holds at once.
const conns = 20

// serverClosedWithin reports whether the server closes c (the read ends
// with EOF or a reset) within d.
func serverClosedWithin(c net.Conn, br *bufio.Reader, d time.Duration) error {
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		return err
	}
	_, err := br.ReadByte()
	var ne net.Error
	switch {
	case err == nil:
		return errors.New("the server sent unexpected bytes")
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return nil
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("still open after %v", d)
	}
	return nil // reset by the server: closed as well
}

func dial(t *testing.T, base string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestIdleConnectionsAreClosed: keep-alive connections that sent one
// request and then stay idle are closed after -idle-timeout.
func TestIdleConnectionsAreClosed(t *testing.T) {
	s := startServer(t, "-idle-timeout", "300ms")
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		c := dial(t, s.url)
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReader(c)
			if _, err := fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
				errs <- err
				return
			}
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				errs <- fmt.Errorf("connection %d: %v", i, err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || res.Close {
				errs <- fmt.Errorf("connection %d: status %d, close %v; want 200 and keep-alive", i, res.StatusCode, res.Close)
				return
			}
			if err := serverClosedWithin(c, br, 10*time.Second); err != nil {
				errs <- fmt.Errorf("idle connection %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestSlowHeadersAreCutOff: a client that sends half a request line and
// then nothing is closed after -read-header-timeout.
func TestSlowHeadersAreCutOff(t *testing.T) {
	s := startServer(t, "-read-header-timeout", "300ms")
	c := dial(t, s.url)
	if _, err := fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: te"); err != nil {
		t.Fatal(err)
	}
	if err := serverClosedWithin(c, bufio.NewReader(c), 10*time.Second); err != nil {
		t.Errorf("connection with unfinished headers: %v", err)
	}
}

// TestSlowBodiesAreCutOff: clients with a valid key that send a large
// body one byte at a time are cut off within -read-timeout: each gets 400
// invalid_request in the envelope (or, at worst, a closed connection), and
// never holds its handler for the whole body.
func TestSlowBodiesAreCutOff(t *testing.T) {
	s := startServer(t, "-read-timeout", "500ms", "-write-timeout", "10s", "-work-delay", "1ms",
		"-rate", "1000", "-burst", "1000")
	var wg sync.WaitGroup
	errs := make(chan error, 2*conns)
	answers := make(chan resp, conns)
	for i := range conns {
		c := dial(t, s.url)
		// Odd connections also send an Idempotency-Key: its middleware reads
		// the body before the binder does.
		idem := ""
		if i%2 == 1 {
			idem = fmt.Sprintf("Idempotency-Key: slow-%d\r\n", i)
		}
		const size = 1 << 20
		if _, err := fmt.Fprintf(c, "POST /v1/generations HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer sk_test_full\r\n"+
			"Content-Type: application/json\r\nContent-Length: %d\r\n%s\r\n{", size, idem); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		wg.Add(2)
		go func() { // dribble one byte every 50ms until the server hangs up
			defer wg.Done()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
		go func() {
			defer wg.Done()
			defer close(stop)
			br := bufio.NewReader(c)
			if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
				errs <- err
				return
			}
			res, err := http.ReadResponse(br, nil)
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				errs <- fmt.Errorf("slow body %d: neither answered nor closed after 10s", i)
				return
			case err != nil:
				return // closed without an answer: cut off as well
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			answers <- resp{status: res.StatusCode, header: res.Header, body: body}
			if err := serverClosedWithin(c, br, 10*time.Second); err != nil {
				errs <- fmt.Errorf("slow body %d after its answer: %v", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(answers)
	for err := range errs {
		t.Error(err)
	}
	for got := range answers {
		checkError(t, got, errorWant{row: rowInvalidRequest})
		if got.header.Get("X-Request-Id") == "" {
			t.Error("a cut-off body's answer has no X-Request-Id")
		}
	}
	// The server still serves.
	if r := do(t, s.url, post("sk_test_full", okBody, "")); r.status != http.StatusCreated {
		t.Errorf("a normal generation after the slow ones: %d %s", r.status, r.body)
	}
}
