// Package bodyread reads request bodies for apiguard's middlewares with the
// limits a server needs in front of untrusted clients: a size limit that also
// holds for chunked bodies, and a deadline, so a client that sends its body
// slowly (or stops sending) cannot hold a handler goroutine and a connection
// for ever.
package bodyread

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/clipia/apiguard/errorsx"
)

// DefaultTimeout is the time [Read] allows for a whole body when its timeout
// is zero: 30 seconds, which a 1 MiB body meets at about 35 KB/s.
const DefaultTimeout = 30 * time.Second

// Read appends the body of r to dst[:0] and returns it, or the error the
// client should see. It is the one body reader of apiguard's middlewares.
//
// Size: a body longer than limit bytes (limit > 0) is a 400
// invalid_request "request body is larger than N bytes", found from
// Content-Length before anything is read, or while reading a body of
// unknown length (chunked), in which case, as with [http.MaxBytesReader],
// net/http closes the connection rather than draining the rest. A declared
// Content-Length sizes the buffer, so a body is read without copies.
//
// Time: the read must end by the earlier of timeout from now and the
// deadline of the request's context. timeout zero means [DefaultTimeout],
// unless the request is served by an http.Server with a ReadTimeout, which
// then stays the one bound (a default must not extend the server's own
// deadline); negative means no limit of Read's own. Read sets the deadline on the
// connection with [http.ResponseController.SetReadDeadline]. When the whole
// body is in, it clears the deadline, so the server's background read that
// watches for a client hang-up (already waiting when an earlier reader took
// the body and put back a copy) cannot time out and cancel the request's
// context while the handler runs; after a failed read the deadline stays,
// so net/http's own read of the rest of the body, before it closes the
// connection, cannot wait on the client either. The deadline replaces the connection's read deadline for
// the time of the read, http.Server.ReadTimeout's included: keep timeout no
// longer than that. Where w cannot set deadlines ([http.ErrNotSupported],
// e.g. a writer wrapped without an Unwrap method), Read checks the time
// after each read instead, which stops a client that trickles bytes but not
// one that sends nothing; the server's own timeouts remain the backstop.
//
// A body not received in time is a 400 invalid_request "The request body
// was not received in time.", with Connection: close on HTTP/1. The
// contract has no 408, and of its eleven rows a 400 is the one that fits:
// the client's input did not arrive, as with a truncated body. A 5xx would
// tell SDKs to retry, sending the same slow body again; a 503 would also
// blame the server for the client's connection.
//
// Other failures: a body that breaks off (a client that hangs up, a broken
// chunked encoding) is a 400 "The request body could not be read.", and a
// request whose context ended is the mapping of [errorsx.From] (503). Each
// error keeps the underlying one as its cause, for the log.
//
// An absent body (nil, [http.NoBody], or Content-Length 0) reads as empty.
// Read does not replace r.Body; a caller that passes the body on sets it.
func Read(dst []byte, w http.ResponseWriter, r *http.Request, limit int64, timeout time.Duration) ([]byte, *errorsx.Error) {
	dst = dst[:0]
	if limit > 0 && r.ContentLength > limit {
		return dst, tooLarge(limit, nil)
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return dst, nil
	}
	ctx := r.Context()
	if err := ctx.Err(); err != nil {
		return dst, errorsx.From(err)
	}
	if timeout == 0 {
		timeout = DefaultTimeout
		if srv, ok := ctx.Value(http.ServerContextKey).(*http.Server); ok && srv.ReadTimeout > 0 {
			// The server already bounds the whole request read; a default
			// of ours would only move its (earlier) deadline later.
			timeout = -1
		}
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	if d, ok := ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
		deadline = d
	}
	rc := http.NewResponseController(w)
	deadlineSet, checkClock := false, false
	if !deadline.IsZero() {
		// Any error, http.ErrNotSupported or another, leaves the clock.
		deadlineSet = rc.SetReadDeadline(deadline) == nil
		checkClock = !deadlineSet
	}

	body := io.Reader(r.Body)
	if limit > 0 && r.ContentLength < 0 {
		// A body of unknown length (chunked): MaxBytesReader also tells
		// net/http to close the connection instead of draining the rest.
		body = http.MaxBytesReader(w, r.Body, limit)
	}
	if limit <= 0 {
		limit = -1
	}
	data, err := read(dst, body, limit, r.ContentLength, deadline, checkClock)
	if err != nil {
		// The deadline stays: after the handler, net/http reads what is
		// left of a small body before it closes the connection, and
		// that read must not wait on the slow client either.
		return data, readError(w, r, err)
	}
	if deadlineSet {
		// The whole body is in: net/http's background read, which
		// watches for a hang-up while the handler runs, must not time
		// out (it would cancel the request's context). net/http clears
		// the deadline when it starts that read at the body's end, but
		// not when the read was started before (r.Body is a copy).
		_ = rc.SetReadDeadline(time.Time{})
	}
	return data, nil
}

// errTooSlow is the cause of a timeout found by the clock, where the
// connection could not be given a deadline.
var errTooSlow = errors.New("bodyread: the request body was not received before the deadline")

// read appends r to buf until EOF, like io.ReadAll, but never holds more
// than limit+1 bytes (limit < 0: no limit): one byte over the limit is an
// *http.MaxBytesError. size is the declared Content-Length (-1: unknown),
// used only to size the buffer. With checkClock, a read that ends after
// deadline is errTooSlow.
func read(buf []byte, r io.Reader, limit, size int64, deadline time.Time, checkClock bool) ([]byte, error) {
	if size >= 0 && (limit < 0 || size <= limit) && int64(cap(buf)) < size+1 {
		buf = make([]byte, 0, size+1)
	}
	for {
		if len(buf) == cap(buf) {
			if limit >= 0 && int64(len(buf)) > limit {
				return buf, &http.MaxBytesError{Limit: limit}
			}
			buf = append(buf, 0)[:len(buf)]
		}
		room := buf[len(buf):cap(buf)]
		if limit >= 0 {
			if over := int64(len(buf)) + int64(len(room)) - (limit + 1); over > 0 {
				room = room[:int64(len(room))-over]
			}
		}
		n, err := r.Read(room)
		buf = buf[:len(buf)+n]
		if limit >= 0 && int64(len(buf)) > limit {
			return buf, &http.MaxBytesError{Limit: limit}
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
		if checkClock && time.Now().After(deadline) {
			return buf, errTooSlow
		}
	}
}

func tooLarge(limit int64, cause error) *errorsx.Error {
	if cause == nil {
		cause = &http.MaxBytesError{Limit: limit}
	}
	return errorsx.InvalidRequest().
		WithMessage("request body is larger than " + strconv.FormatInt(limit, 10) + " bytes").
		WithCause(cause)
}

// readError maps a failed read to the client's error.
func readError(w http.ResponseWriter, r *http.Request, err error) *errorsx.Error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return tooLarge(mb.Limit, err)
	}
	if isTimeout(err) {
		closeAfter(w, r)
		return errorsx.InvalidRequest().WithMessage("The request body was not received in time.").WithCause(err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return errorsx.From(err)
	}
	// A broken chunked encoding, a client that hung up mid-body: the body
	// as sent is unusable.
	closeAfter(w, r)
	return errorsx.InvalidRequest().WithMessage("The request body could not be read.").WithCause(err)
}

// isTimeout reports whether err is a read deadline passing.
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, errTooSlow) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// closeAfter asks net/http to close an HTTP/1 connection after the
// response: the rest of the body is still on the wire, or the wire is
// broken. HTTP/2 streams end on their own.
func closeAfter(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
	}
}
