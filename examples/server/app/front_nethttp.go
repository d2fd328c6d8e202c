package app

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/nethttp"
	"github.com/clipia/apiguard/principal"
)

// frontNetHTTP serves the app with net/http's ServeMux (package nethttp):
// each route is its handler behind its chain of guards, and
// nethttp.Handler in front of the mux answers unknown routes, HEAD, request
// ids and panics.
func frontNetHTTP(g guards, h *handlers) (http.Handler, error) {
	g, m, err := withMetrics(g)
	if err != nil {
		return nil, err
	}
	authMW, err := nethttp.Auth(g.auth)
	if err != nil {
		return nil, err
	}
	limit, err := nethttp.RateLimit(g.limit)
	if err != nil {
		return nil, err
	}
	idem, err := nethttp.Idempotency(g.idempotency)
	if err != nil {
		return nil, err
	}
	bindMW, err := nethttp.Bind[generationRequest](g.bind)
	if err != nil {
		return nil, err
	}
	// POST /v1/generations: at most -max-in-flight per tenant, checked
	// after the rate limit and before the scope.
	generationGuards := []func(http.Handler) http.Handler{}
	if g.inFlight != nil {
		inFlight, err := nethttp.ConcurrencyLimit(*g.inFlight)
		if err != nil {
			return nil, err
		}
		generationGuards = append(generationGuards, inFlight)
	}
	scopes := make(map[string]func(http.Handler) http.Handler, len(routeScopes))
	for _, sc := range routeScopes {
		if scopes[sc], err = nethttp.Scopes(auth.ScopeConfig{All: []string{sc}, Telemetry: m.telemetry()}); err != nil {
			return nil, err
		}
	}
	// handle adapts a handler of the app: ServeMux hands path values over
	// decoded, and the app's handlers decode them once more (as Echo's
	// come raw), so they are passed on escaped.
	handle := func(fn handlerFunc) http.Handler {
		return nethttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			param := func(name string) string { return url.PathEscape(r.PathValue(name)) }
			return fn(w, call{r: r, param: param, body: nethttp.Body[generationRequest](r)})
		})
	}
	// v1 puts a /v1 route behind auth and the limiter, then its own guards.
	v1 := func(fn handlerFunc, mws ...func(http.Handler) http.Handler) http.Handler {
		next := handle(fn)
		for i := len(mws) - 1; i >= 0; i-- {
			next = mws[i](next)
		}
		return noteRoute(authMW(notePrincipal(limit(next))))
	}

	mux := http.NewServeMux()
	mux.Handle("GET /healthz", noteRoute(handle(h.healthz)))
	mux.Handle("GET "+metricsPath, noteRoute(m.handler))
	mux.Handle("GET /v1/models", v1(h.listModels, scopes[scopeModelsRead]))
	mux.Handle("GET /v1/models/{id}", v1(h.getModel, scopes[scopeModelsRead]))
	mux.Handle("POST /v1/generations", v1(h.createGeneration, append(generationGuards, scopes[scopeGenerationsWrite], idem, bindMW)...))
	mux.Handle("GET /v1/generations/{id}", v1(h.getGeneration, scopes[scopeGenerationsRead]))
	mux.Handle("GET /v1/balance", v1(h.balance, scopes[scopeGenerationsRead]))

	// Headers over 16 KiB answer 400 on every path, before routing, as
	// on the Echo doors.
	front, err := nethttp.Handler(mux, nethttp.Config{
		Errors:      g.errors,
		RequestID:   nethttp.RequestIDConfig{SendRequestID: true},
		HeaderLimit: &nethttp.HeaderLimitConfig{},
	})
	if err != nil {
		return nil, err
	}
	return requestLogNetHTTP(g.logger, front), nil
}

// logSlot is where the inner handlers leave what the access line needs:
// net/http passes requests down, never back up.
type logSlot struct {
	principal *principal.Principal
	route     string
}

type logSlotKey struct{}

// noteRoute records the route of a request that reached one, for the
// access line.
func noteRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s, ok := r.Context().Value(logSlotKey{}).(*logSlot); ok {
			s.route = echoStyle(r.Pattern)
		}
		next.ServeHTTP(w, r)
	})
}

// notePrincipal records the principal auth found, for the access line.
func notePrincipal(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s, ok := r.Context().Value(logSlotKey{}).(*logSlot); ok {
			s.principal, _ = principal.FromContext(r.Context())
		}
		next.ServeHTTP(w, r)
	})
}

// statusWriter records the status of a response for the access line.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush implements http.Flusher.
func (w *statusWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// Hijack implements http.Hijacker.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// requestLogNetHTTP logs one line per request (see logRequest).
func requestLogNetHTTP(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		slot := &logSlot{}
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), logSlotKey{}, slot))
		next.ServeHTTP(sw, r)
		if slot.principal != nil {
			r = r.WithContext(principal.NewContext(r.Context(), slot.principal))
		}
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		logRequest(logger, r, w.Header(), slot.route, status, start)
	})
}

// echoStyle writes a ServeMux pattern as the Echo doors name routes in the
// access line ("GET /v1/models/{id}" → "/v1/models/:id"), so that the log
// reads the same whichever front door serves.
func echoStyle(pattern string) string {
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = pattern[i+1:]
	}
	if !strings.Contains(pattern, "{") {
		return pattern
	}
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '{':
			b.WriteByte(':')
		case '}':
		default:
			b.WriteByte(pattern[i])
		}
	}
	return b.String()
}
