package gin1

import (
	"bufio"
	"net"
	"net/http"
	"sync"

	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/internal/frontdoor"
	"github.com/gin-gonic/gin"
)

// Use returns one gin handler that runs gs in order (guard.Chain): a request
// that matched no route is answered 404 not_found before the first guard
// that acts on a route. When a guard answers the request (an error, or a
// response of its own such as an idempotent replay), the rest of gin's chain
// does not run (c.Abort). An error is rendered by the outermost Use of the
// request, so the guards of every enclosing Use see the error of the rest of
// the chain, a [Handle] handler's included, as their c.Next's result. The
// handler is safe for concurrent use and allocates nothing of its own per
// request.
func Use(gs ...guard.Guard) gin.HandlerFunc {
	g := guard.Chain(gs...)
	return func(c *gin.Context) {
		k := calls.Get().(*call)
		k.c, k.q, k.route = c, frontdoor.Find[*req](c.Writer), guard.Template(c.FullPath())
		if k.q != nil {
			k.parent, k.q.cur, k.q.path = k.q.cur, k, c.FullPath()
		}
		err := g.Serve(c.Writer, c.Request, k)
		c.Abort()
		if k.q != nil {
			k.q.cur = k.parent
		}
		if k.parent != nil {
			k.parent.err = err // the enclosing Use's guards see it, its outermost renders it
		} else {
			frontdoor.Error(c.Writer, c.Request, k.route, err)
		}
		*k = call{}
		calls.Put(k)
	}
}

// Handle adapts a handler that returns its error: an error goes to the
// guards of the enclosing [Use] (whose outermost renders it), or, with no
// Use around, is rendered at once, as [Error] does. Either way the rest of
// gin's chain does not run.
func Handle(h func(c *gin.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		q := frontdoor.Find[*req](c.Writer)
		if q != nil {
			q.path = c.FullPath() // for the log of a panic
		}
		if err := h(c); err != nil {
			c.Abort()
			if q != nil && q.cur != nil {
				q.cur.err = err
			} else {
				frontdoor.Error(c.Writer, c.Request, guard.Template(c.FullPath()), err)
			}
		}
	}
}

// Error renders err now, through the app's one renderer, as the answer to
// c's request, and stops gin's chain (c.Abort): for plain gin handlers and
// middlewares. A response already written is not rewritten (the error is
// logged), an error marked errorsx.Rendered is skipped, and nil does nothing
// but abort.
func Error(c *gin.Context, err error) {
	frontdoor.Error(c.Writer, c.Request, guard.Template(c.FullPath()), err)
	c.Abort()
}

// call is the guard.Call of one [Use] on one request.
type call struct {
	c      *gin.Context
	q      *req
	parent *call  // the enclosing Use's call
	err    error  // the error of the rest of the chain, from Handle or an inner Use
	route  string // the canonical route, "" when none matched
	w      writer // gin's view of a guard's writer
}

var calls = sync.Pool{New: func() any { return new(call) }}

// Route returns the canonical route, "" when none matched.
func (k *call) Route() string { return k.route }

// Param returns a path parameter.
func (k *call) Param(name string) string { return k.c.Param(name) }

// Next runs the rest of gin's chain with w and r.
func (k *call) Next(w http.ResponseWriter, r *http.Request) error {
	c := k.c
	cw, cr := c.Writer, c.Request
	wrapped := w != http.ResponseWriter(cw)
	if wrapped {
		k.w = writer{ResponseWriter: cw, w: w, q: k.q, size: -1, status: http.StatusOK}
		c.Writer = &k.w
	}
	c.Request, k.err = r, nil
	c.Next()
	err := k.err
	if wrapped && err == nil && k.w.held {
		k.w.WriteHeaderNow() // a status set without a body (c.Status(201)), as gin sends it at the end
	}
	c.Writer, c.Request, k.err = cw, cr, nil
	return err
}

// Render renders err on w now, through the app's one renderer.
func (k *call) Render(w http.ResponseWriter, r *http.Request, err error) {
	frontdoor.Error(w, r, k.route, err)
}

// writer is a gin.ResponseWriter over a guard's writer, with the semantics
// of gin's own: the status is held until the body or WriteHeaderNow.
// CloseNotify and Pusher are gin's writer's.
type writer struct {
	gin.ResponseWriter // gin's writer of the request
	w                  http.ResponseWriter
	q                  *req
	size               int // -1 until the status is sent
	status             int
	held               bool // WriteHeader was called
}

// Header returns the guard's writer's header.
func (w *writer) Header() http.Header { return w.w.Header() }

// WriteHeader holds code until the first write.
func (w *writer) WriteHeader(code int) {
	if code > 0 && !w.Written() {
		w.status, w.held = code, true
	}
}

// WriteHeaderNow sends the held status.
func (w *writer) WriteHeaderNow() {
	if !w.Written() {
		w.size = 0
		w.w.WriteHeader(w.status)
	}
}

// Write sends the status, then p.
func (w *writer) Write(p []byte) (int, error) {
	w.WriteHeaderNow()
	n, err := w.w.Write(p)
	w.size += n
	return n, err
}

// WriteString sends the status, then s.
func (w *writer) WriteString(s string) (int, error) { return w.Write([]byte(s)) }

// Status returns the status, sent or held.
func (w *writer) Status() int { return w.status }

// Size returns the bytes of body written, -1 before the status is sent.
func (w *writer) Size() int { return w.size }

// Written reports whether the status was sent.
func (w *writer) Written() bool { return w.size != -1 }

// Flush sends the status and flushes.
func (w *writer) Flush() {
	w.WriteHeaderNow()
	http.NewResponseController(w.w).Flush() //nolint:errcheck // as http.Flusher
}

// Hijack takes over the connection.
func (w *writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.size = max(w.size, 0)
	return http.NewResponseController(w.w).Hijack()
}

// Unwrap returns the guard's writer, for http.ResponseController.
func (w *writer) Unwrap() http.ResponseWriter { return w.w }
