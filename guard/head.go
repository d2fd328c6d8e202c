package guard

import (
	"net/http"
	"strconv"
)

// HeadWriter is how every door answers HEAD wherever GET is served (RFC
// 9110 §9.3.2): the request runs as GET through the same guards and
// handler, on a HeadWriter that answers with what the GET handler writes: it
// holds back the status, counts and drops the body, and on [HeadWriter.Finish]
// sends the status with the Content-Length of the dropped body (unless the
// handler set its own, or flushed). 1xx statuses go out at once.
type HeadWriter struct {
	http.ResponseWriter
	status int
	n      int64
	sent   bool
}

// NewHeadWriter returns a HeadWriter over w.
func NewHeadWriter(w http.ResponseWriter) *HeadWriter {
	return &HeadWriter{ResponseWriter: w}
}

// WriteHeader holds code until Finish (1xx: sends it now).
func (w *HeadWriter) WriteHeader(code int) {
	if w.status == 0 && !w.sent {
		w.status = code
	}
	if code < 200 && !w.sent { // 1xx go out at once
		w.status = 0
		w.ResponseWriter.WriteHeader(code)
	}
}

// Write counts and drops p.
func (w *HeadWriter) Write(p []byte) (int, error) {
	if w.status == 0 && !w.sent {
		w.status = http.StatusOK
	}
	w.n += int64(len(p))
	return len(p), nil
}

// Flush sends the status now; a flushed HEAD has no Content-Length.
func (w *HeadWriter) Flush() {
	w.send()
	http.NewResponseController(w.ResponseWriter).Flush() //nolint:errcheck // as http.Flusher
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *HeadWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *HeadWriter) send() {
	if w.sent || w.status == 0 {
		return
	}
	w.sent = true
	w.ResponseWriter.WriteHeader(w.status)
}

// Finish sends the held status with the Content-Length of the dropped body.
func (w *HeadWriter) Finish() {
	if w.sent || w.status == 0 {
		return
	}
	h := w.Header()
	if w.n > 0 && h.Get("Content-Length") == "" && h.Get("Transfer-Encoding") == "" {
		h.Set("Content-Length", strconv.FormatInt(w.n, 10))
	}
	w.send()
}
