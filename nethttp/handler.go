package nethttp

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/frontdoor"
)

// Config configures [Handler]. The zero value is valid.
type Config struct {
	// Errors configures the renderer that [Error], every guard of this
	// package and Handler itself write errors with: its logger, RFC 9457
	// problem+json, the 401 realm. The zero value logs to slog.Default and
	// renders the JSON envelope.
	Errors errorsx.HandlerConfig

	// RequestID configures the request id Handler gives every request
	// first, as [RequestID] does.
	RequestID RequestIDConfig

	// Recover configures the panic recovery of Handler, as [Recover] does;
	// a negative StackSize is an error.
	Recover RecoverConfig

	// HeaderLimit, when not nil, makes Handler check the size of the
	// request's headers, as [HeaderLimit] does, right after giving it its
	// id and before routing: headers over the limit answer 400
	// invalid_request on every path, known or not, as on the Echo doors
	// where HeaderLimit runs with e.Use. Nil checks nothing here.
	HeaderLimit *HeaderLimitConfig
}

// Handler returns the net/http front door around next, the app's router:
// for every request, in order, it
//
//   - installs the renderer of cfg.Errors for the request, with a small
//     wrapper of the http.ResponseWriter that knows whether the response
//     was written (it keeps http.Flusher, http.Hijacker and Unwrap), so
//     that [Error] and every guard render through it, once;
//   - gives the request its id ([RequestID]);
//   - recovers a panic as [Recover] does and writes the 500 internal_error
//     (or, when the response was already written, logs it once);
//   - when next routes as http.ServeMux does (it has a Handler(*http.Request)
//     (http.Handler, string) method, also through the middlewares of this
//     package), answers a request that matches no pattern, or a known path
//     with a wrong method, 404 not_found before anything else runs, as the
//     Echo front doors do;
//   - answers HEAD as the Echo front doors do: ServeMux routes HEAD to the
//     GET pattern (a HEAD pattern of its own wins), where guards and
//     handler see a GET request, as Echo v4's middleware.Head shows them;
//     the body the handler writes is counted and dropped, so the response
//     carries the Content-Length GET would have (unless the handler set its
//     own, or flushed). Without a router, the request stays HEAD;
//
// and then calls next. The middlewares of this package may sit between
// Handler and the mux (they keep its Handler method):
//
//	nethttp.Handler(nethttp.Must(nethttp.HeaderLimit(limits))(mux), cfg)
//
// Any other middleware there hides the mux, and unknown routes then reach
// the mux's own plain-text 404: wrap such middlewares around each route's
// handler, or around the handler Handler returns.
//
// Handler returns an error when next is nil or cfg.Recover.StackSize is
// negative. The handler is safe for concurrent use.
func Handler(next http.Handler, cfg Config) (http.Handler, error) {
	if next == nil {
		return nil, errors.New("nethttp: Handler: next is nil")
	}
	size, err := frontdoor.StackSize("nethttp", cfg.Recover.StackSize)
	if err != nil {
		return nil, err
	}
	h := &handler{next: next, render: errorsx.NewRenderer(cfg.Errors), cfg: cfg, stackSize: size}
	if cfg.HeaderLimit != nil {
		if h.limit, err = frontdoor.NewHeaderLimit("nethttp", cfg.HeaderLimit.MaxBytes); err != nil {
			return nil, err
		}
	}
	h.router, _ = next.(router)
	return h, nil
}

type handler struct {
	next      http.Handler
	router    router // next, when it routes
	render    *errorsx.Renderer
	cfg       Config
	stackSize int
	limit     *frontdoor.HeaderLimit // cfg.HeaderLimit, when set
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rw := trackers.Get().(*tracker)
	rw.ResponseWriter, rw.render, rw.status = w, h.render, 0
	var hw *frontdoor.HeadWriter
	if r.Method == http.MethodHead {
		hw = frontdoor.NewHeadWriter(w)
		rw.ResponseWriter = hw
	}
	req := r // the request next gets
	recovering := h.cfg.Recover.Skip == nil || !h.cfg.Recover.Skip(r)
	defer func() {
		if recovering {
			if v := recover(); v != nil {
				write(rw, r, route(req), frontdoor.Recovered(v, h.stackSize))
			}
		}
		if hw != nil {
			hw.Finish()
		}
		rw.release()
	}()
	if h.cfg.RequestID.Skip == nil || !h.cfg.RequestID.Skip(r) {
		frontdoor.RequestID(w.Header(), r, h.cfg.RequestID.SendRequestID)
	}
	if h.limit != nil && (h.cfg.HeaderLimit.Skip == nil || !h.cfg.HeaderLimit.Skip(r)) {
		if err := h.limit.Check(r); err != nil {
			h.render.Write(rw, r, "", errorsx.From(err))
			return
		}
	}
	if h.router != nil {
		_, pattern := h.router.Handler(r)
		if pattern == "" {
			// No pattern matches (ServeMux would answer 404), or only
			// with another method (its 405).
			h.render.Write(rw, r, "", errNotFound)
			return
		}
		if hw != nil && strings.HasPrefix(pattern, "GET ") {
			// HEAD routed to a GET pattern runs as GET, as on the Echo
			// doors: guards and handler see the GET they serve.
			req = r.WithContext(r.Context())
			req.Method = http.MethodGet
		}
	}
	h.next.ServeHTTP(rw, req)
}

// router is an http.Handler that routes as http.ServeMux does: Handler
// returns the handler and pattern r matches, and "" when none does.
type router interface {
	http.Handler
	Handler(r *http.Request) (h http.Handler, pattern string)
}

// wrap returns serve, the middleware of this package around next, as an
// http.Handler that routes as next does when next is a [router], so that
// [Handler] still tells unknown routes through it. Every middleware of this
// package returns what wrap returns.
func wrap(next http.Handler, serve http.HandlerFunc) http.Handler {
	if rt, ok := next.(router); ok {
		return routed{HandlerFunc: serve, router: rt}
	}
	return serve
}

// routed is a middleware around a router that routes as the router does.
type routed struct {
	http.HandlerFunc
	router router
}

// Handler returns the handler and pattern of the router inside.
func (x routed) Handler(r *http.Request) (http.Handler, string) { return x.router.Handler(r) }

// tracker is the http.ResponseWriter that [Handler] installs: it carries
// the request's renderer and the status once the response is written.
type tracker struct {
	http.ResponseWriter
	render *errorsx.Renderer
	status int // 0 until the status is sent
}

var trackers = sync.Pool{New: func() any { return new(tracker) }}

func (w *tracker) release() {
	*w = tracker{}
	trackers.Put(w)
}

// WriteHeader records the status and sends it.
func (w *tracker) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records the implicit 200 and writes p.
func (w *tracker) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Flush sends the status (200 when none was set) and flushes, as
// http.Flusher.
func (w *tracker) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	http.NewResponseController(w.ResponseWriter).Flush() //nolint:errcheck // as http.Flusher
}

// Hijack takes over the connection, as http.Hijacker; the response then
// counts as written.
func (w *tracker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *tracker) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// trackerOf returns the tracker in w's Unwrap chain, or nil.
func trackerOf(w http.ResponseWriter) *tracker {
	for range 32 {
		switch x := w.(type) {
		case *tracker:
			return x
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil
		}
	}
	return nil
}
