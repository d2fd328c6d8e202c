package app

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/principal"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/telemetry"
)

// stack is every guard of the app, built once by New: the same guard
// values in the same lists on every front door. A front door (front_*.go)
// only mounts these lists on its routes; it builds no guard of its own.
//
// The lists, in the documented check order:
//
//	request           request id → recover → header limit (400)      every request, before routing
//	open              (the access log's route)                       /healthz, /metrics
//	v1                auth (401) → rate limit (429)                  the /v1 group
//	models…, gen…     scope (403)                                    each /v1 route
//	createGeneration  in flight (429) → scope (403) → idempotency (409 / replay) → validation (400, 404, 422)
//
// Each guard names the route by its canonical template (guard.Template,
// "/v1/generations/{id}") whatever door serves it, so two processes on
// different doors over one store share every idempotency key and every
// rate-limit bucket.
type stack struct {
	errors  errorsx.HandlerConfig
	request []guard.Guard

	open             []guard.Guard
	v1               []guard.Guard
	modelsRead       []guard.Guard
	generationsRead  []guard.Guard
	createGeneration []guard.Guard

	// log wraps the door's handler: the access line of every request.
	log func(http.Handler) http.Handler
}

// stackConfig is what newStack needs from New: the stores and settings.
type stackConfig struct {
	logger    *slog.Logger
	telemetry telemetry.Config // the app's metrics, for every guard and the renderer
	keys      auth.KeyStore
	models    bind.ModelRegistry
	limit     ratelimit.Config
	idem      idempotency.Config
	inFlight  *ratelimit.ConcurrencyConfig // nil: no limit
}

// newStack builds every guard of the app once.
func newStack(sc stackConfig) (*stack, error) {
	tc := sc.telemetry
	authn, err := auth.New(auth.Config{Store: sc.keys, APIKeyHeader: auth.HeaderAPIKey, Telemetry: tc})
	if err != nil {
		return nil, err
	}
	limit, err := ratelimit.New(sc.limit)
	if err != nil {
		return nil, err
	}
	idem, err := idempotency.New(sc.idem)
	if err != nil {
		return nil, err
	}
	body, err := bind.New[generationRequest](bind.Config{Models: sc.models, Strict: true})
	if err != nil {
		return nil, err
	}
	scope := func(name string) (guard.Guard, error) {
		return auth.NewScopes(auth.ScopeConfig{All: []string{name}, Telemetry: tc})
	}
	modelsRead, err := scope(scopeModelsRead)
	if err != nil {
		return nil, err
	}
	generationsRead, err := scope(scopeGenerationsRead)
	if err != nil {
		return nil, err
	}
	generationsWrite, err := scope(scopeGenerationsWrite)
	if err != nil {
		return nil, err
	}
	// POST /v1/generations: at most -max-in-flight per tenant, checked
	// after the rate limit and before the scope. Nil (no limit) is
	// skipped where it is mounted (guard.Chain).
	var inFlight guard.Guard
	if sc.inFlight != nil {
		if inFlight, err = ratelimit.NewConcurrency(*sc.inFlight); err != nil {
			return nil, err
		}
	}
	recoverer, err := guard.Recover(guard.RecoverConfig{})
	if err != nil {
		return nil, err
	}
	// Headers over 16 KiB answer 400 in the envelope, unknown route or
	// not; net/http's own limit (maxHeaderBytes, 1 MiB) stays far above.
	headerLimit, err := guard.HeaderLimit(guard.HeaderLimitConfig{})
	if err != nil {
		return nil, err
	}

	return &stack{
		errors: errorsx.HandlerConfig{Logger: sc.logger, ProblemJSON: true, Telemetry: tc},
		request: []guard.Guard{
			guard.RequestID(guard.RequestIDConfig{SendRequestID: true}),
			recoverer,
			headerLimit,
		},
		open: []guard.Guard{noteRoute},
		// Auth and the limiter on the group, as most apps wire them: an
		// unknown path under /v1 still answers 404 with no key and no
		// token spent, since a chain answers an unmatched request 404
		// before its first guard.
		v1:               []guard.Guard{noteRoute, authn, notePrincipal, limit},
		modelsRead:       []guard.Guard{modelsRead},
		generationsRead:  []guard.Guard{generationsRead},
		createGeneration: []guard.Guard{inFlight, generationsWrite, idem, body},
		log:              requestLog(sc.logger),
	}, nil
}

// The access log: one line per request, whatever answered it (a guard, the
// handler, the door's 404 for an unknown route, a recovered panic), with
// the request id, the caller's key id, the method, the canonical route,
// the status and the latency.
//
// The line is written by requestLog, which wraps the door's whole handler:
// a request-level guard sees the request before routing, so neither the
// route nor the caller is known there. Two route-level guards leave them
// in the request's logEntry on the way in: noteRoute (first on every
// route, before auth, so a 401 names its route) and notePrincipal (right
// after auth).

// logEntry is what the guards of a request leave for its access line, and
// the status its response was sent with.
type logEntry struct {
	http.ResponseWriter
	status    int
	route     string
	principal *principal.Principal
}

type logEntryKey struct{}

func entryOf(r *http.Request) *logEntry {
	e, _ := r.Context().Value(logEntryKey{}).(*logEntry)
	return e
}

// noteRoute records the canonical route of the request for its access
// line.
var noteRoute guard.Guard = guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
	if e := entryOf(r); e != nil {
		e.route = c.Route()
	}
	return c.Next(w, r)
})

// notePrincipal records the caller that auth found, for the access line.
var notePrincipal guard.Guard = guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
	if e := entryOf(r); e != nil {
		e.principal, _ = principal.FromContext(r.Context())
	}
	return c.Next(w, r)
})

// requestLog returns the middleware that logs the access line of every
// request once its response is written (see logRequest).
func requestLog(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			e := &logEntry{ResponseWriter: w}
			next.ServeHTTP(e, r.WithContext(context.WithValue(r.Context(), logEntryKey{}, e)))
			status := e.status
			if status == 0 {
				status = http.StatusOK // net/http sends 200 for a handler that wrote nothing
			}
			logRequest(logger, r, w.Header(), e.principal, e.route, status, start)
		})
	}
}

// WriteHeader records the status and sends it.
func (e *logEntry) WriteHeader(code int) {
	if e.status == 0 && code >= 200 {
		e.status = code
	}
	e.ResponseWriter.WriteHeader(code)
}

// Write records the implicit 200 and writes b.
func (e *logEntry) Write(b []byte) (int, error) {
	if e.status == 0 {
		e.status = http.StatusOK
	}
	return e.ResponseWriter.Write(b)
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (e *logEntry) Unwrap() http.ResponseWriter { return e.ResponseWriter }

// Flush implements http.Flusher.
func (e *logEntry) Flush() {
	if e.status == 0 {
		e.status = http.StatusOK
	}
	_ = http.NewResponseController(e.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker.
func (e *logEntry) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(e.ResponseWriter).Hijack()
}

// logRequest logs the one access line of a request: request id, principal
// key id (never the key), method, route, status and latency_ms
// (milliseconds, 3 decimals). h is the response's headers.
func logRequest(logger *slog.Logger, r *http.Request, h http.Header, p *principal.Principal, route string, status int, start time.Time) {
	keyID := ""
	if p != nil {
		keyID = p.KeyID
	}
	logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("request_id", errorsx.RequestID(h, r)),
		slog.String("key_id", keyID),
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Float64("latency_ms", millis(time.Since(start))),
	)
}
