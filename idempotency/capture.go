package idempotency

import (
	"bufio"
	"net"
	"net/http"
)

// captureWriter is the writer the handler gets (the front door puts it under
// its framework's response) and records what reaches the client: the
// status, the allowlisted headers as they were when the status was written,
// and the body up to a limit. It keeps the Flusher and Hijacker
// behaviour of the writer it wraps (and Unwrap, for
// http.ResponseController); a flush or a hijack marks the response as
// streamed, which is never stored.
type captureWriter struct {
	http.ResponseWriter
	allow    []string // canonical header names
	limit    int
	status   int
	buf      []byte // the allowlisted headers (flat), then the body
	hdrLen   int    // the headers' part of buf
	over     bool   // body exceeded limit
	streamed bool   // flushed or hijacked
	// shouldRetry is X-Should-Retry: true when the status was written.
	shouldRetry bool
}

func (w *captureWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
		h := w.ResponseWriter.Header()
		w.buf = appendFlat(w.buf[:0], h, w.allow)
		w.hdrLen = len(w.buf)
		w.shouldRetry = h.Get("X-Should-Retry") == "true"
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *captureWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.over {
		if len(w.buf)-w.hdrLen+len(b) > w.limit {
			w.over, w.buf = true, w.buf[:w.hdrLen]
		} else {
			w.buf = append(w.buf, b...)
		}
	}
	return w.ResponseWriter.Write(b)
}

// captured returns the headers (flat) and the body captured; they share
// one array, so a stored response is one object.
func (w *captureWriter) captured() (flatHeader, []byte) {
	return w.buf[:w.hdrLen:w.hdrLen], w.buf[w.hdrLen:]
}

// Flush implements http.Flusher. A flushed response is streamed.
func (w *captureWriter) Flush() {
	_ = w.FlushError()
}

// FlushError is what http.ResponseController calls.
func (w *captureWriter) FlushError() error {
	w.streamed = true
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker. A hijacked connection is streamed.
func (w *captureWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.streamed = true
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *captureWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var _ interface {
	http.Flusher
	http.Hijacker
} = (*captureWriter)(nil)

func snapshot(h http.Header, allow []string) http.Header {
	var out http.Header
	for _, k := range allow {
		if vs, ok := h[k]; ok && len(vs) > 0 {
			if out == nil {
				out = make(http.Header, len(allow))
			}
			out[k] = append([]string(nil), vs...)
		}
	}
	return out
}
