package ratelimit

import (
	"hash/maphash"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/principal"
)

// shadowLogSlots is the number of (caller, policy) pairs the shadow log
// remembers; a pair is logged again when its slot went to another pair.
const shadowLogSlots = 4096

// shadowLogPerSecond bounds the shadow log lines per second of a limiter,
// whatever the number of callers.
const shadowLogPerSecond = 100

// shadowLog decides which shadow refusals are logged: once per caller and
// policy per window, in a fixed amount of memory (a direct-mapped table of
// hashes), and at most shadowLogPerSecond lines a second.
type shadowLog struct {
	seed   maphash.Seed
	mu     sync.Mutex
	second int64 // Unix second of the current rate window
	lines  int   // lines logged in it
	slots  [shadowLogSlots]struct {
		h     uint64
		until int64 // Unix ns
	}
}

func newShadowLog() *shadowLog { return &shadowLog{seed: maphash.MakeSeed()} }

// first reports whether the refusal of caller key by policy at now should
// be logged, and if so remembers it for window.
func (s *shadowLog) first(key, policy string, window time.Duration, now time.Time) bool {
	h := maphash.String(s.seed, key) ^ maphash.String(s.seed, policy)*0x9e3779b97f4a7c15
	ns := now.UnixNano()
	slot := &s.slots[h%shadowLogSlots]
	s.mu.Lock()
	defer s.mu.Unlock()
	if slot.h == h && ns < slot.until {
		return false
	}
	if sec := ns / int64(time.Second); sec != s.second {
		s.second, s.lines = sec, 0
	}
	if s.lines >= shadowLogPerSecond {
		return false
	}
	s.lines++
	slot.h, slot.until = h, ns+int64(max(window, time.Second))
	return true
}

// shadowLimited logs a shadow policy's would-be refusal, once per caller
// and policy per window (the policy's Refill). The line names the caller
// only by its principal's key id, when there is one.
func (l *Limiter) shadowLimited(w http.ResponseWriter, r *http.Request, route, key string, p *plan, res Result) {
	pol := p.policies[res.Policy]
	if !l.shadowLog.first(key, pol.NameOrDefault(), pol.Refill(), time.Now()) {
		return
	}
	attrs := make([]slog.Attr, 0, 6)
	attrs = append(attrs,
		slog.String("request_id", errorsx.RequestID(w.Header(), r)),
		slog.String("route", route),
		slog.String("policy", pol.NameOrDefault()),
		slog.Int64("retry_after_s", errorsx.RetryAfterSeconds(res.RetryAfter)))
	if p.name != "" {
		attrs = append(attrs, slog.String("plan", p.name))
	}
	if pr, ok := principal.FromContext(r.Context()); ok && pr.KeyID != "" {
		attrs = append(attrs, slog.String("key_id", pr.KeyID))
	}
	l.logger.LogAttrs(r.Context(), slog.LevelInfo, "rate limit shadow policy would refuse the request (not enforced)", attrs...)
}
