package idempotency

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Pending counts the background work of the guards configured with it
// (Config.Pending): the claims kept alive while their handlers run, and the
// commits retried after a store failure once the client has its response.
// Wait for it at shutdown, after the HTTP server has stopped, so that the
// responses already sent are stored:
//
//	pending := new(idempotency.Pending)
//	idem, err := idempotency.New(idempotency.Config{Store: store, Pending: pending})
//	…
//	_ = srv.Shutdown(ctx)
//	_ = pending.Wait(ctx)
//
// Each piece of work ends by itself within about one lease, so Wait never
// blocks forever. The zero value is ready to use; a Pending is safe for
// concurrent use and may be shared by several guards.
type Pending struct {
	n    atomic.Int64 // pieces of work pending
	mu   sync.Mutex
	idle chan struct{} // made by Wait while n > 0, closed when n drops to 0
}

func (p *Pending) add() { p.n.Add(1) }

func (p *Pending) done() {
	if p.n.Add(-1) != 0 {
		return
	}
	// Wake the waiters, unless work came again since.
	p.mu.Lock()
	if p.idle != nil && p.n.Load() == 0 {
		close(p.idle)
		p.idle = nil
	}
	p.mu.Unlock()
}

// Wait blocks until no work is pending, or until ctx ends, when it returns
// ctx.Err(). Work that starts after Wait returned is not waited for.
func (p *Pending) Wait(ctx context.Context) error {
	if p.n.Load() == 0 {
		return nil
	}
	p.mu.Lock()
	if p.idle == nil {
		p.idle = make(chan struct{})
	}
	idle := p.idle
	// Checked again with idle in place: a done that brought n to 0 before
	// it was made found no channel to close.
	if p.n.Load() == 0 {
		close(p.idle)
		p.idle = nil
	}
	p.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// holder keeps one claim alive while its handler runs, then commits or
// releases it. It starts light: the guard's renewer (one timer per guard)
// lists it, and the request's goroutine commits or releases the claim itself
// when the handler returns before the first renewal is due (the usual case:
// no goroutine, channel or timer per request). When a renewal falls due
// first, the renewer escalates it: a goroutine of its own (loop) renews the
// claim every lease/3 (retried with backoff after a store error), then
// commits or releases it, retrying a failed commit in the background while
// the claim is still its own. Either way one goroutine at a time uses the
// claim's token, so the store sees the claim's calls one after the other,
// and the holder never touches the request or its writer, which a
// framework may reuse once the request is over.
type holder struct {
	g      *Guard
	key    string
	fp     string
	reqID  string
	route  string
	reqCtx context.Context         // the request's context, for its values
	cancel context.CancelCauseFunc // cancels the handler's context when lctx is nil
	lctx   *leaseCtx               // the handler's context, when it is one

	// Set by the renewer when it escalates the holder, or by the request's
	// goroutine before it hands the commit to a goroutine.
	logCtx context.Context // the request's values, never cancelled
	span   trace.Span      // the request's span, for the outcome
	finish chan finishReq
	exited chan struct{} // closed when the goroutine returns
	lost   atomic.Bool   // the claim was lost before the handler finished

	// Guarded by the renewer's mutex.
	state      int
	prev, next *holder   // the renewer's list
	due        time.Time // when the first renewal is due

	// Owned by whoever holds the claim (see state).
	token    string
	slot     uint32    // the memory store's slot of the claim (+1), a hint for commit; 0 when unknown
	deadline time.Time // end of the lease by the local clock
	bound    time.Time // when set, store calls end by then too (the client waits)
}

// States of a holder.
const (
	holdLight     = iota // listed by the renewer; no renewal was due yet
	holdFinishing        // the request's goroutine commits or releases
	holdEscalated        // loop holds the claim; end talks to it
)

// renewer lists the light holders of a guard, oldest first (all share the
// guard's lease), and escalates each when its first renewal falls due, with
// one timer armed for the oldest.
type renewer struct {
	mu         sync.Mutex
	head, tail *holder
	timer      *time.Timer
	armed      bool
}

// add lists h, light.
func (rn *renewer) add(h *holder) {
	rn.mu.Lock()
	h.state, h.prev, h.next = holdLight, rn.tail, nil
	if rn.tail != nil {
		rn.tail.next = h
	} else {
		rn.head = h
	}
	rn.tail = h
	if !rn.armed {
		rn.armed = true
		if rn.timer == nil {
			rn.timer = time.AfterFunc(time.Until(h.due), rn.fire)
		} else {
			rn.timer.Reset(time.Until(h.due))
		}
	}
	rn.mu.Unlock()
}

func (rn *renewer) unlink(h *holder) {
	if h.prev != nil {
		h.prev.next = h.next
	} else {
		rn.head = h.next
	}
	if h.next != nil {
		h.next.prev = h.prev
	} else {
		rn.tail = h.prev
	}
	h.prev, h.next = nil, nil
}

// leave takes h off the list for the request's goroutine to finish it. It
// returns false when h was escalated: its goroutine holds the claim.
func (rn *renewer) leave(h *holder) bool {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if h.state == holdEscalated {
		return false
	}
	h.state = holdFinishing
	rn.unlink(h)
	return true
}

// fire escalates the holders whose first renewal is due and arms the timer
// for the next one.
func (rn *renewer) fire() {
	rn.mu.Lock()
	now := time.Now()
	var due []*holder
	for h := rn.head; h != nil && !now.Before(h.due); h = rn.head {
		rn.unlink(h)
		h.state = holdEscalated
		h.finish = make(chan finishReq, 1) // one per holder: sending never blocks
		h.exited = make(chan struct{})
		h.background()
		due = append(due, h)
	}
	if rn.head != nil {
		rn.timer.Reset(rn.head.due.Sub(now))
	} else {
		rn.armed = false
	}
	rn.mu.Unlock()
	for _, h := range due {
		go h.loop()
	}
}

// background readies h for work off the request's goroutine.
func (h *holder) background() {
	h.logCtx = context.WithoutCancel(h.reqCtx)
	h.span = trace.SpanFromContext(h.reqCtx)
}

// countExecuted counts the outcome executed, off the request's goroutine.
func (h *holder) countExecuted() {
	ctx := h.ctx()
	h.g.obs.countOn(ctx, h.span, outcomeExecuted)
}

// ctx returns the request's values, never cancelled, for logs and
// telemetry.
func (h *holder) ctx() context.Context {
	if h.logCtx == nil {
		h.background()
	}
	return h.logCtx
}

// finishReq asks the holder to commit resp, or to release the claim when
// resp is nil. The holder answers on result once the client may have its
// response: after the release, or after the first commit attempt.
type finishReq struct {
	resp   *capture
	tx     Tx // commit resp with tx, not with the store (TxStore mode)
	result chan error
}

// capture is a response to store: as the guard captured it (status, the
// allowlisted headers flat, body), or as a Response.
type capture struct {
	status int
	hdr    flatHeader
	body   []byte
	resp   *Response // the Response, once made
	// done: the holder is done with the capture (the memory store copied
	// it, or the claim was lost) before end returned.
	done bool
}

// response returns c as a Response (made once).
func (c *capture) response() Response {
	if c.resp == nil {
		r := &Response{Status: c.status, Body: c.body}
		if len(c.hdr) > 0 {
			r.Header = c.hdr.header()
		}
		if r.Body == nil {
			r.Body = []byte{}
		}
		c.resp = r
	}
	return *c.resp
}

// errLostRecorded is what the holder answers a handler's response with when
// the claim was lost before it could store it, after passing recordLost
// itself: the caller must not record it a second time.
var errLostRecorded = fmt.Errorf("%w (recorded)", ErrLeaseLost)

// errCommitted: a claim attempt found the record completed with our own
// token, so an earlier commit whose answer was lost did land.
var errCommitted = errors.New("idempotency: already committed")

// commitWait is the longest a client waits for its response to be stored;
// after it, the commit goes on in the background.
const commitWait = 500 * time.Millisecond

// Backoff between retries of a failed store call.
const (
	backoffMin = 50 * time.Millisecond
	backoffMax = time.Second
)

// hold starts h, the holder of a claim made at claimedAt, light. cancel
// cancels the handler's context; or lctx is it, and cancel is nil. slot is
// the memory store's slot of the claim (+1), or 0.
func (g *Guard) hold(h *holder, reqCtx context.Context, cancel context.CancelCauseFunc, lctx *leaseCtx, slot uint32, key, fp, token string, claimedAt time.Time, reqID, route string) {
	*h = holder{
		g: g, key: key, fp: fp, reqID: reqID, route: route,
		reqCtx:   reqCtx,
		cancel:   cancel,
		lctx:     lctx,
		token:    token,
		slot:     slot,
		deadline: claimedAt.Add(g.lease),
		due:      claimedAt.Add(g.lease / 3),
	}
	g.pending.add()
	g.ren.add(h)
}

// every is the renewal period: a third of the lease, so that one failed
// renewal still leaves time for retries.
func (h *holder) every() time.Duration { return h.g.lease / 3 }

// end commits resp, or releases the claim when resp is nil, and returns
// once the client may have its response: the release done, or the first
// commit attempt done, or commitWait passed (the commit then goes on in the
// background). It returns ErrLeaseLost when the claim was lost before the
// holder took the outcome.
//
// A light holder is finished on the calling goroutine: a release, or with
// a store that never blocks (MemoryStore) the first commit attempt; a
// commit to another store, or a retry, runs on a goroutine of its own, as
// in an escalated holder.
func (h *holder) end(resp *capture) error {
	if !h.g.ren.leave(h) {
		return h.endHeld(resp)
	}
	if resp == nil {
		defer h.g.pending.done()
		return h.release()
	}
	if h.g.mem != nil {
		err := h.commitOnce(resp)
		switch {
		case err == nil || errors.Is(err, errCommitted):
			resp.done = true
			h.g.obs.count(h.reqCtx, outcomeExecuted)
			h.g.pending.done()
			return nil
		case errors.Is(err, ErrLeaseLost):
			resp.done = true
			h.g.pending.done()
			h.g.recordLost(h.ctx(), h.reqID, h.route, err)
			return errLostRecorded
		}
	}
	// Another store: the first attempt on this goroutine too, bounded by
	// commitWait (what the client waits at most), then retries on a
	// goroutine of their own.
	h.background()
	start := time.Now()
	h.g.local.add(h.key, h.fp)
	h.bound = start.Add(commitWait)
	err := h.commitOnce(resp)
	h.bound = time.Time{}
	switch {
	case err == nil || errors.Is(err, errCommitted):
		h.countExecuted()
		h.g.local.remove(h.key)
		h.g.pending.done()
		return nil
	case errors.Is(err, ErrLeaseLost):
		h.g.recordLost(h.ctx(), h.reqID, h.route, err)
		h.g.local.remove(h.key)
		h.g.pending.done()
		return errLostRecorded
	}
	h.g.log.LogAttrs(h.ctx(), slog.LevelWarn, "idempotency: storing the response failed; retrying in the background",
		slog.String("request_id", h.reqID), slog.String("route", h.route), slog.String("error", err.Error()))
	go func() {
		defer h.g.pending.done()
		h.retryCommit(resp, nil, err, start)
	}()
	return nil
}

// endHeld is end for an escalated holder: it hands the outcome to its
// goroutine and waits as end does.
func (h *holder) endHeld(resp *capture) error {
	f := finishReq{resp: resp, result: make(chan error, 1)}
	h.finish <- f
	var timeout <-chan time.Time
	if resp != nil {
		t := time.NewTimer(commitWait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case err := <-f.result:
		return err
	case <-h.exited:
		select {
		case err := <-f.result:
			return err
		default:
			return ErrLeaseLost
		}
	case <-timeout:
		return nil
	}
}

// endTx hands a response to commit with tx to the holder and waits for the
// outcome of the commit (no background retry: the commit is the
// transaction). On failure the transaction is rolled back, and the claim
// released when it is still held, before endTx returns.
func (h *holder) endTx(tx Tx, resp *Response) error {
	if h.g.ren.leave(h) {
		defer h.g.pending.done()
		return h.commitTx(tx, *resp)
	}
	f := finishReq{resp: &capture{resp: resp}, tx: tx, result: make(chan error, 1)}
	h.finish <- f
	select {
	case err := <-f.result:
		return err
	case <-h.exited:
		select {
		case err := <-f.result:
			return err
		default: // the claim was lost before the holder took the response
			h.rollback(tx)
			return ErrLeaseLost
		}
	}
}

func (h *holder) loop() {
	defer h.g.pending.done()
	defer close(h.exited)
	t := time.NewTimer(time.Until(h.due)) // due already: renew at once
	defer t.Stop()
	var bo backoff
	for {
		select {
		case f := <-h.finish:
			switch {
			case f.resp == nil:
				f.result <- h.release()
			case f.tx != nil:
				f.result <- h.commitTx(f.tx, f.resp.response())
			default:
				h.commit(f.resp, f.result)
			}
			return
		case <-t.C:
			err := h.renew()
			switch {
			case err == nil:
				bo = backoff{}
				t.Reset(h.every())
			case errors.Is(err, ErrLeaseLost):
				select {
				case f := <-h.finish: // the handler is done: end may have stopped waiting
					lostErr := ErrLeaseLost
					if f.tx != nil {
						h.rollback(f.tx)
					} else if f.resp != nil {
						h.g.recordLost(h.ctx(), h.reqID, h.route, err)
						lostErr = errLostRecorded
					}
					f.result <- lostErr
				default:
					h.lose(err)
				}
				return
			default:
				t.Reset(h.retryWait(&bo))
			}
		}
	}
}

// retryWait is the wait before the next attempt after a store error: a
// backoff of at most half a renewal period, so that several attempts fit in
// what is left of the lease.
func (h *holder) retryWait(bo *backoff) time.Duration {
	return bo.next(min(h.every()/2, backoffMax))
}

// callCtx bounds a store call by the end of the lease: after it, the claim
// is no longer ours to use.
//
// With a store that never blocks (MemoryStore), once the handler is done,
// the deadline has nothing to bound: the call gets a context that is never
// cancelled (a cancelled request still commits or releases its claim), with
// the request's values only when its span records.
func (h *holder) callCtx() (context.Context, context.CancelFunc) {
	if h.g.mem != nil && h.state == holdFinishing && h.logCtx == nil {
		if trace.SpanFromContext(h.reqCtx).IsRecording() {
			return h.ctx(), nop
		}
		return context.Background(), nop
	}
	d := h.deadline
	if !h.bound.IsZero() && h.bound.Before(d) {
		d = h.bound
	}
	return context.WithDeadline(h.ctx(), d)
}

func nop() {}

// renew extends the lease once. It returns nil when the lease was extended
// (or the key claimed again, see reclaim), an error wrapping ErrLeaseLost
// when the claim is lost, else the store's error, to be retried.
func (h *holder) renew() error {
	if !time.Now().Before(h.deadline) {
		return fmt.Errorf("%w: the store could not be reached to renew it", ErrLeaseLost)
	}
	start := time.Now()
	ctx, cancel := h.callCtx()
	ctx, sc := h.g.ops.renew.Begin(ctx)
	err := h.g.store.Renew(ctx, h.key, h.token, h.g.lease)
	sc.End(storeFailure(err))
	cancel()
	switch {
	case err == nil:
		h.deadline = start.Add(h.g.lease)
		return nil
	case errors.Is(err, ErrLeaseLost):
		if err := h.reclaim(); err != nil && !errors.Is(err, errCommitted) {
			return err
		}
		return nil
	case !time.Now().Before(h.deadline):
		return fmt.Errorf("%w: the store could not be reached to renew it: %w", ErrLeaseLost, err)
	}
	return err
}

// reclaim runs when the store says the claim is not ours although its lease
// has not ended by our clock: the store forgot it (a Redis restarted without
// persistence, a flush, an eviction). The key is claimed again with the same
// fingerprint, so that duplicates keep seeing it in progress; if another
// request holds it now, the claim is lost. It returns errCommitted when the
// record is completed with our token (an earlier commit landed but its answer
// was lost).
func (h *holder) reclaim() error {
	start := time.Now()
	if !start.Before(h.deadline) {
		return ErrLeaseLost
	}
	ctx, cancel := h.callCtx()
	ctx, sc := h.g.ops.claim.Begin(ctx)
	res, err := h.g.store.Claim(ctx, h.key, h.fp, h.g.lease)
	sc.End(err)
	cancel()
	switch {
	case err != nil:
		return err
	case res.Claimed:
		h.token, h.slot, h.deadline = res.Token, 0, start.Add(h.g.lease)
		h.g.log.LogAttrs(h.ctx(), slog.LevelWarn, "idempotency: the store forgot a live claim; claimed the key again",
			slog.String("request_id", h.reqID), slog.String("route", h.route))
		return nil
	case res.Record.State == StateCompleted && res.Record.Token == h.token:
		return errCommitted
	}
	return fmt.Errorf("%w: another request holds the key", ErrLeaseLost)
}

// lose cancels the running handler: its claim is gone.
func (h *holder) lose(err error) {
	h.lost.Store(true)
	if h.lctx != nil {
		h.lctx.cancelCause(ErrLeaseLost)
	} else {
		h.cancel(ErrLeaseLost)
	}
	h.g.log.LogAttrs(h.ctx(), slog.LevelWarn, "idempotency: claim lost while the handler ran; its context is cancelled and its response will not be stored",
		slog.String("request_id", h.reqID), slog.String("route", h.route), slog.String("error", err.Error()))
}

func (h *holder) release() error {
	if !time.Now().Before(h.deadline) {
		return ErrLeaseLost
	}
	ctx, cancel := h.callCtx()
	defer cancel()
	ctx, sc := h.g.ops.release.Begin(ctx)
	err := h.g.store.Release(ctx, h.key, h.token)
	sc.End(storeFailure(err))
	return err
}

// commit stores resp, retrying after store errors for as long as the claim
// is ours, and at most one lease after the handler ended; between retries
// the claim is renewed when due. It answers on first after the first
// attempt, so the client never waits for the retries.
func (h *holder) commit(resp *capture, first chan<- error) {
	h.g.local.add(h.key, h.fp)
	start := time.Now()
	h.retryCommit(resp, first, h.commitOnce(resp), start)
}

// retryCommit is commit after its first attempt, started at start, returned
// err.
func (h *holder) retryCommit(resp *capture, first chan<- error, err error, start time.Time) {
	giveUp := start.Add(h.g.lease)
	renewed := start
	var bo backoff
	var t *time.Timer
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			err = h.commitOnce(resp)
		}
		if err == nil || errors.Is(err, errCommitted) {
			h.countExecuted()
			if attempt > 1 {
				h.g.log.LogAttrs(h.ctx(), slog.LevelInfo, "idempotency: response stored after a store failure",
					slog.String("request_id", h.reqID), slog.String("route", h.route), slog.Int("attempts", attempt))
			}
			break
		}
		if errors.Is(err, ErrLeaseLost) {
			h.g.recordLost(h.ctx(), h.reqID, h.route, err)
			break
		}
		if first != nil {
			h.g.log.LogAttrs(h.ctx(), slog.LevelWarn, "idempotency: storing the response failed; retrying in the background",
				slog.String("request_id", h.reqID), slog.String("route", h.route), slog.String("error", err.Error()))
			first <- nil
			first = nil
		}
		wait := h.retryWait(&bo)
		if now := time.Now(); !now.Add(wait).Before(h.deadline) || !now.Add(wait).Before(giveUp) {
			h.g.recordLost(h.ctx(), h.reqID, h.route,
				fmt.Errorf("%w: the store could not be reached before the lease ended: %w", ErrLeaseLost, err))
			break
		}
		if t == nil {
			t = time.NewTimer(wait)
			defer t.Stop()
		} else {
			t.Reset(wait)
		}
		<-t.C
		if time.Since(renewed) >= h.every() {
			renewed = time.Now()
			if err := h.renew(); errors.Is(err, ErrLeaseLost) {
				h.g.recordLost(h.ctx(), h.reqID, h.route, err)
				break
			}
		}
	}
	h.g.local.remove(h.key) // before the answer: a duplicate right after it goes to the store
	if first != nil {
		first <- nil
	}
}

// commitTx commits resp with the handler's writes in tx, bounded by the
// lease. On failure it rolls tx back and releases the claim when it is
// still ours (after a reclaim the token of tx is not, see reclaim), so that
// a retry runs again at once.
func (h *holder) commitTx(tx Tx, resp Response) error {
	var err error
	if time.Now().Before(h.deadline) {
		ctx, cancel := h.callCtx()
		ctx, sc := h.g.ops.txCommit.Begin(ctx)
		err = tx.Commit(ctx, resp, h.g.retention)
		sc.End(storeFailure(err))
		cancel()
		if err == nil {
			h.countExecuted()
			return nil
		}
	} else {
		err = fmt.Errorf("%w: the lease ended before the transaction could commit", ErrLeaseLost)
	}
	h.rollback(tx)
	if rerr := h.release(); rerr != nil && !errors.Is(rerr, ErrLeaseLost) {
		h.g.log.LogAttrs(h.ctx(), slog.LevelError, "idempotency: releasing claim failed; the key stays in progress until the lease expires",
			slog.String("request_id", h.reqID), slog.String("route", h.route), slog.String("error", rerr.Error()))
	}
	return err
}

// rollback rolls tx back, bounded by one lease, and logs a failure.
func (h *holder) rollback(tx Tx) {
	h.g.rollback(h.ctx(), tx, h.reqID, h.route)
}

// commitOnce makes one commit attempt, claiming the key again first when
// the store forgot it (see reclaim).
func (h *holder) commitOnce(resp *capture) error {
	if !time.Now().Before(h.deadline) {
		return fmt.Errorf("%w: the lease ended before the response could be stored", ErrLeaseLost)
	}
	err := h.commitCall(resp)
	if !errors.Is(err, ErrLeaseLost) {
		return err
	}
	if err := h.reclaim(); err != nil {
		return err
	}
	return h.commitCall(resp)
}

// commitCall is one timed Commit, bounded by the lease.
func (h *holder) commitCall(resp *capture) error {
	ctx, cancel := h.callCtx()
	defer cancel()
	ctx, sc := h.g.ops.commit.Begin(ctx)
	var err error
	if h.g.mem != nil && resp.resp == nil { // the guard's capture, never touched again
		err = h.g.mem.commit(h.key, h.slot, h.token, storedResp{status: resp.status, hdr: resp.hdr, body: resp.body}, h.g.retention)
	} else {
		err = h.g.store.Commit(ctx, h.key, h.token, resp.response(), h.g.retention)
	}
	sc.End(storeFailure(err))
	return err
}

// recordLost is where a response that the client received is given up for
// good: it could not be stored while the claim was ours, so a retry of the
// request will run the handler again. Every such outcome passes here (count
// it here).
func (g *Guard) recordLost(ctx context.Context, reqID, route string, err error) {
	g.obs.count(ctx, outcomeLeaseLost)
	g.log.LogAttrs(ctx, slog.LevelError, "idempotency: response not stored; a retry will run the request again",
		slog.String("request_id", reqID), slog.String("route", route), slog.String("error", err.Error()))
}

// backoff is an exponential backoff with jitter, from backoffMin.
type backoff struct{ d time.Duration }

// next returns the next wait, at most limit.
func (b *backoff) next(limit time.Duration) time.Duration {
	if b.d == 0 {
		b.d = backoffMin
	} else {
		b.d *= 2
	}
	b.d = max(min(b.d, limit), time.Millisecond)
	return b.d/2 + rand.N(b.d/2+1)
}

// localPending are the keys whose response this process is storing: a
// duplicate that reaches this process is answered 409 request_in_progress
// without asking the store, even while the store is unreachable or after it
// forgot the claim.
type localPending struct {
	n    atomic.Int32
	mu   sync.Mutex
	keys map[string]localEntry // record key → entry
}

// localEntry is a pending key: its fingerprint, and how many holders of
// this process store it (a stale owner and a retry may overlap).
type localEntry struct {
	fp string
	n  int
}

func (l *localPending) add(key, fp string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil {
		l.keys = make(map[string]localEntry)
	}
	e := l.keys[key]
	l.keys[key] = localEntry{fp: fp, n: e.n + 1}
	l.n.Store(int32(len(l.keys)))
}

func (l *localPending) remove(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.keys[key]; e.n > 1 {
		e.n--
		l.keys[key] = e
	} else {
		delete(l.keys, key)
	}
	l.n.Store(int32(len(l.keys)))
}

// lookup returns the fingerprint of a pending key.
func (l *localPending) lookup(key string) (string, bool) {
	if l.n.Load() == 0 {
		return "", false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.keys[key]
	return e.fp, ok
}
