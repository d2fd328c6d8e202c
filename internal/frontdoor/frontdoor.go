// Package frontdoor holds the runtime helpers that apiguard's front doors
// (middleware/echo4, middleware/echo5, middleware/gin1,
// middleware/nethttp) share and that are not the contract itself (package
// guard): the mapping of an error that carries its own HTTP status, the
// HEAD writer, and the tracking writer that carries a request's renderer on
// the doors whose framework has no error handler of its own (net/http,
// gin). It imports no web framework and no test helper.
package frontdoor

import (
	"bufio"
	"net"
	"net/http"

	"github.com/clipia/apiguard/errorsx"
)

// Tracker is the http.ResponseWriter a door installs for a request: it
// carries the request's renderer and the status once the response is
// written. It keeps http.Flusher, http.Hijacker and Unwrap.
type Tracker struct {
	http.ResponseWriter
	Renderer *errorsx.Renderer
	Status   int // 0 until the status is sent
}

// WriteHeader records the status and sends it.
func (t *Tracker) WriteHeader(code int) {
	if t.Status == 0 && code >= 200 {
		t.Status = code
	}
	t.ResponseWriter.WriteHeader(code)
}

// Write records the implicit 200 and writes p.
func (t *Tracker) Write(p []byte) (int, error) {
	if t.Status == 0 {
		t.Status = http.StatusOK
	}
	return t.ResponseWriter.Write(p)
}

// Flush sends the status (200 when none was set) and flushes.
func (t *Tracker) Flush() {
	if t.Status == 0 {
		t.Status = http.StatusOK
	}
	http.NewResponseController(t.ResponseWriter).Flush() //nolint:errcheck // as http.Flusher
}

// Hijack takes over the connection; the response then counts as written.
func (t *Tracker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(t.ResponseWriter).Hijack()
	if err == nil && t.Status == 0 {
		t.Status = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (t *Tracker) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// TrackerOf returns the Tracker in w's Unwrap chain, or nil.
func TrackerOf(w http.ResponseWriter) *Tracker { return Find[*Tracker](w) }

// Find returns the writer of type T in w's Unwrap chain (w itself
// included), or the zero T: how a door finds its per-request value under
// the writers guards put around it.
func Find[T http.ResponseWriter](w http.ResponseWriter) (t T) {
	for range 32 {
		if x, ok := w.(T); ok {
			return x
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return t
		}
		w = u.Unwrap()
	}
	return t
}

// defaultRenderer renders for a writer that no door tracks.
var defaultRenderer = errorsx.NewRenderer(errorsx.HandlerConfig{})

// Error renders err on w for r with the renderer of the Tracker under w
// (else one of the zero errorsx.HandlerConfig): once, never over a response
// already written (then it is logged once), nothing for an error marked
// errorsx.Rendered. route is the canonical route, "" for an unmatched
// request.
func Error(w http.ResponseWriter, r *http.Request, route string, err error) {
	if err == nil || errorsx.IsRendered(err) {
		return
	}
	render, status := defaultRenderer, 0
	if t := TrackerOf(w); t != nil {
		render, status = t.Renderer, t.Status
	}
	Write(render, w, r, route, status != 0, status, errorsx.From(err))
}
