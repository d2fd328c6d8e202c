package idempotency

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"

	"github.com/clipia/apiguard/errorsx"
	"go.opentelemetry.io/otel/trace"
)

// errHijackHeld is what a Hijack of a held-back response returns.
var errHijackHeld = fmt.Errorf("idempotency: a response held back for a transactional store cannot be hijacked: %w", http.ErrNotSupported)

// txFlight is the state of one request that runs its handler with a
// TxStore: the holder of its claim and the writer that holds its response
// back, in one allocation.
type txFlight struct {
	h  holder
	bw bufferWriter
}

// runTx is run for a TxStore: the handler runs in the store's unit of work
// and its response is held back until the unit of work committed with the
// record. See Guard.Serve.
func (g *Guard) runTx(c *call, next func(http.ResponseWriter, *http.Request) error, render func(http.ResponseWriter, *http.Request, error)) (err error) {
	req := c.r
	reqID := c.requestID() // before the headers are copied: it may set X-Request-Id
	ctx, cancel := context.WithCancelCause(req.Context())
	defer cancel(context.Canceled)
	f := &txFlight{bw: bufferWriter{w: c.w, header: c.w.Header().Clone(), allow: g.allow, limit: g.maxResp}}
	h := &f.h
	// The claim is held (renewed) from before Begin: Begin may wait for a
	// connection of a full pool, for longer than the lease, and the claim
	// must outlive that wait. Should it be lost all the same, the holder
	// cancels ctx, which ends the wait.
	g.hold(h, req.Context(), cancel, nil, 0, c.key, c.fp, c.token, c.claimedAt, reqID, c.route)
	bctx, sc := g.ops.begin.Begin(ctx)
	txCtx, tx, berr := g.tx.Begin(bctx, c.key, c.token)
	sc.End(berr)
	if berr != nil {
		g.obs.count(req.Context(), outcomeStoreError)
		g.releaseHeld(c, h)
		return storeFailed("begin", berr)
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		// The handler's context derives from Begin's, whose active span
		// is the ended "apiguard.store begin": make the request's span
		// the active one again.
		txCtx = trace.ContextWithSpan(txCtx, span)
	}
	hreq := req.WithContext(txCtx)
	bw := &f.bw
	finished := false
	defer func() {
		if !finished { // the handler panicked: roll back, release, let the panic go on
			g.rollback(context.WithoutCancel(req.Context()), tx, reqID, c.route)
			g.release(c, h, "panic")
		}
	}()
	err = next(bw, hreq)
	if err != nil && !errorsx.IsRendered(err) {
		render(bw, hreq, err)
		err = errorsx.Rendered(err)
	}
	finished = true

	reason := g.notStored(req, bw.status, false, bw.over, bw.shouldRetry)
	switch reason {
	case "":
	case reasonNoResponse, reasonTooLarge:
		// Nothing that can be sent: a success whose writes are rolled
		// back must not reach the client.
		g.rollback(context.WithoutCancel(req.Context()), tx, reqID, c.route)
		g.release(c, h, reason)
		g.log.LogAttrs(context.WithoutCancel(req.Context()), slog.LevelError, "idempotency: transaction rolled back; the client gets 500 internal_error",
			slog.String("request_id", reqID), slog.String("route", c.route), slog.String("reason", reason))
		e := errorsx.Internal().WithCause(errors.New("idempotency: " + reason))
		render(c.w, req, e)
		return errorsx.Rendered(e)
	default:
		g.rollback(context.WithoutCancel(req.Context()), tx, reqID, c.route)
		g.release(c, h, reason)
		bw.send()
		return err
	}
	resp := Response{Status: bw.status, Header: bw.snap, Body: bw.body}
	if resp.Body == nil {
		resp.Body = []byte{}
	}
	if cerr := h.endTx(tx, &resp); cerr != nil {
		if errors.Is(cerr, ErrLeaseLost) {
			g.obs.count(req.Context(), outcomeLeaseLost)
		} else {
			g.obs.count(req.Context(), outcomeStoreError)
		}
		e := storeFailed("commit", cerr)
		g.log.LogAttrs(context.WithoutCancel(req.Context()), slog.LevelError, "idempotency: transaction not committed and rolled back; the client gets "+strconv.Itoa(e.Status())+" "+string(e.Code()),
			slog.String("request_id", reqID), slog.String("route", c.route), slog.String("error", cerr.Error()))
		render(c.w, req, e)
		return errorsx.Rendered(e)
	}
	bw.send()
	return err
}

// releaseHeld releases, through its holder, a claim whose transaction
// could not begin.
func (g *Guard) releaseHeld(c *call, h *holder) {
	err := h.end(nil)
	if err != nil && !errors.Is(err, ErrLeaseLost) {
		g.log.LogAttrs(context.WithoutCancel(c.r.Context()), slog.LevelError, "idempotency: releasing claim failed; the key stays in progress until the lease expires",
			slog.String("request_id", c.requestID()), slog.String("route", c.route), slog.String("error", err.Error()))
	}
}

// rollback rolls tx back, bounded by one lease, and logs a failure.
func (g *Guard) rollback(ctx context.Context, tx Tx, reqID, route string) {
	ctx, cancel := context.WithTimeout(ctx, g.lease)
	defer cancel()
	sctx, sc := g.ops.rollback.Begin(ctx)
	err := tx.Rollback(sctx)
	sc.End(err)
	if err != nil {
		g.log.LogAttrs(ctx, slog.LevelError, "idempotency: rolling back the transaction failed",
			slog.String("request_id", reqID), slog.String("route", route), slog.String("error", err.Error()))
	}
}

// bufferWriter holds a response back: the handler writes its headers, status
// and body here, and nothing reaches the client until send. It records the
// allowlisted headers as they were when the status was written, and keeps
// the body up to a limit (beyond it the response cannot be sent: over).
// Flush does nothing, and Hijack fails: a held-back response is sent whole.
type bufferWriter struct {
	w      http.ResponseWriter // the client's
	header http.Header         // the handler's, a copy of w's at the start
	allow  []string            // canonical header names
	limit  int
	status int
	snap   http.Header // allowlisted headers when the status was written
	body   []byte
	over   bool // body exceeded limit, and was dropped
	// shouldRetry is X-Should-Retry: true when the status was written.
	shouldRetry bool
}

// Header returns the headers of the held-back response.
func (w *bufferWriter) Header() http.Header { return w.header }

// WriteHeader records the status; informational statuses are dropped.
func (w *bufferWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
		w.snap = snapshot(w.header, w.allow)
		w.shouldRetry = w.header.Get(errorsx.HeaderShouldRetry) == "true"
	}
}

// Write holds b back.
func (w *bufferWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.over {
		if len(w.body)+len(b) > w.limit {
			w.over, w.body = true, nil
		} else {
			w.body = append(w.body, b...)
		}
	}
	return len(b), nil
}

// Flush does nothing: the response is sent whole after the commit.
func (w *bufferWriter) Flush() {}

// FlushError is what http.ResponseController calls; it does nothing.
func (w *bufferWriter) FlushError() error { return nil }

// Hijack fails: a held-back response cannot give its connection away.
func (w *bufferWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return nil, nil, errHijackHeld
}

// Unwrap returns the client's writer, for http.ResponseController's
// deadlines.
func (w *bufferWriter) Unwrap() http.ResponseWriter { return w.w }

// send writes the held-back response to the client.
func (w *bufferWriter) send() {
	dst := w.w.Header()
	clear(dst)
	for k, vs := range w.header {
		dst[k] = vs
	}
	if w.status == 0 {
		return
	}
	w.w.WriteHeader(w.status)
	if len(w.body) > 0 {
		_, _ = w.w.Write(w.body)
	}
}

var _ interface {
	http.Flusher
	http.Hijacker
} = (*bufferWriter)(nil)
