package guard

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"

	"github.com/clipia/apiguard/errorsx"
)

// RequestIDConfig configures [RequestID]. The zero value is valid.
type RequestIDConfig struct {
	// Skip skips the guard for a request when it returns true; the renderer
	// still gives an error response an id. Nil runs it always.
	Skip func(r *http.Request) bool

	// SendRequestID also sends the id as Request-Id on every response,
	// errors included, the header stripe-go reads. X-Request-Id is always
	// sent. This guard is the one owner of the setting.
	SendRequestID bool
}

// RequestID returns the guard that gives every request an id before
// anything else runs: the incoming X-Request-Id when it is a sane token
// (errorsx.ValidRequestID), else a new random UUID. The id is set on the
// response's X-Request-Id header (and Request-Id with SendRequestID), where
// the renderer and errorsx.RequestID find it. Install it first. It runs for
// every request, matched or not.
func RequestID(cfg RequestIDConfig) Guard { return &requestID{cfg: cfg} }

type requestID struct{ cfg RequestIDConfig }

func (*requestID) everyRequest() {}

// Serve sets the id and runs the rest.
func (g *requestID) Serve(w http.ResponseWriter, r *http.Request, c Call) error {
	if g.cfg.Skip == nil || !g.cfg.Skip(r) {
		h := w.Header()
		id := errorsx.RequestID(h, r)
		if g.cfg.SendRequestID {
			h.Set(errorsx.HeaderRequestIDStripe, id)
		}
	}
	return c.Next(w, r)
}

// ErrPanic is the cause of the internal_error a recovered panic turns into;
// errors.Is(err, ErrPanic) tells a panic from other 500s.
var ErrPanic = errors.New("panic recovered")

// DefaultStackSize is the default of [RecoverConfig].StackSize: 8 KiB.
const DefaultStackSize = 8 << 10

// RecoverConfig configures [Recover]. The zero value is valid.
type RecoverConfig struct {
	// Skip skips the guard for a request when it returns true. Nil runs it
	// always.
	Skip func(r *http.Request) bool

	// StackSize is the most bytes of stack kept for the log. Zero means
	// [DefaultStackSize]; negative is an error.
	StackSize int
}

// Recover returns the guard that turns a panic in the rest of the chain
// into a returned 500 internal_error, which the renderer writes and logs
// like any other error: one record at level Error whose error names the
// panic value ([ErrPanic] is in the cause's chain) and whose "stack" holds
// the stack. Nothing of the panic reaches the client. http.ErrAbortHandler
// is re-panicked, as net/http expects. It runs for every request. Recover
// returns an error when StackSize is negative.
func Recover(cfg RecoverConfig) (Guard, error) {
	switch {
	case cfg.StackSize < 0:
		return nil, errors.New("guard: RecoverConfig.StackSize is negative")
	case cfg.StackSize == 0:
		cfg.StackSize = DefaultStackSize
	}
	return &recoverer{cfg: cfg}, nil
}

type recoverer struct{ cfg RecoverConfig }

func (*recoverer) everyRequest() {}

// Serve runs the rest and recovers its panic.
func (g *recoverer) Serve(w http.ResponseWriter, r *http.Request, c Call) (err error) {
	if g.cfg.Skip != nil && g.cfg.Skip(r) {
		return c.Next(w, r)
	}
	defer func() {
		if v := recover(); v != nil {
			err = Recovered(v, g.cfg.StackSize)
		}
	}()
	return c.Next(w, r)
}

// Recovered returns the 500 internal_error of the panic value v, with at
// most stackSize bytes of the panicking goroutine's stack for the log. It
// re-panics http.ErrAbortHandler, as net/http expects, so call it from the
// deferred function that recovered v. Doors that recover outside a chain
// use it.
func Recovered(v any, stackSize int) *errorsx.Error {
	if v == http.ErrAbortHandler {
		panic(v)
	}
	if stackSize <= 0 {
		stackSize = DefaultStackSize
	}
	stack := make([]byte, stackSize)
	stack = stack[:runtime.Stack(stack, false)]
	return errorsx.Internal().WithCause(&panicError{value: fmt.Sprint(v), stack: string(stack)})
}

// panicError is the cause of a recovered panic: the value for the log line,
// the stack for the renderer's "stack" attribute.
type panicError struct {
	value string
	stack string
}

func (p *panicError) Error() string { return ErrPanic.Error() + ": " + p.value }

// Unwrap returns ErrPanic.
func (p *panicError) Unwrap() error { return ErrPanic }

// Stack returns the stack of the panicking goroutine.
func (p *panicError) Stack() string { return p.stack }

// DefaultMaxHeaderBytes is the default of [HeaderLimitConfig].MaxBytes:
// 16 KiB, more than any API client sends and far below net/http's own
// limit (http.DefaultMaxHeaderBytes, 1 MiB).
const DefaultMaxHeaderBytes = 16 << 10

// HeaderLimitConfig configures [HeaderLimit]. The zero value is valid.
type HeaderLimitConfig struct {
	// Skip skips the check for a request when it returns true. Nil checks
	// every request.
	Skip func(r *http.Request) bool

	// MaxBytes is the largest accepted size of the request line and header
	// fields together, counted as HTTP/1.1 sends them ("Name: value\r\n"
	// per value, Host included). Zero means [DefaultMaxHeaderBytes];
	// negative is an error.
	MaxBytes int
}

// HeaderLimit returns the guard that answers 400 invalid_request when a
// request's header section is larger than cfg.MaxBytes, on every path,
// known or not.
//
// Why a limit in the app when net/http has http.Server.MaxHeaderBytes:
// net/http answers a header section over its limit itself, with a
// plain-text 431 outside the error contract, before any handler runs. Keep
// MaxHeaderBytes well above MaxBytes (the default 1 MiB is) so that every
// header section the server accepts but the app refuses gets the envelope.
// HeaderLimit returns an error for a negative MaxBytes.
func HeaderLimit(cfg HeaderLimitConfig) (Guard, error) {
	switch {
	case cfg.MaxBytes < 0:
		return nil, fmt.Errorf("guard: HeaderLimit: MaxBytes must not be negative, got %d", cfg.MaxBytes)
	case cfg.MaxBytes == 0:
		cfg.MaxBytes = DefaultMaxHeaderBytes
	}
	return &headerLimit{
		cfg: cfg,
		tooLarge: errorsx.InvalidRequest().
			WithMessage("The request headers are too large: at most " + strconv.Itoa(cfg.MaxBytes) + " bytes are accepted."),
	}, nil
}

type headerLimit struct {
	cfg      HeaderLimitConfig
	tooLarge *errorsx.Error
}

func (*headerLimit) everyRequest() {}

// Serve checks the size of the header section and runs the rest.
func (g *headerLimit) Serve(w http.ResponseWriter, r *http.Request, c Call) error {
	if (g.cfg.Skip == nil || !g.cfg.Skip(r)) && headerSize(r, g.cfg.MaxBytes) > g.cfg.MaxBytes {
		return g.tooLarge
	}
	return c.Next(w, r)
}

// headerSize returns the size of the request line and header fields of r
// as HTTP/1.1 sends them, stopping early once it passes limit.
func headerSize(r *http.Request, limit int) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	if r.Host != "" {
		n += len("Host: ") + len(r.Host) + 2
	}
	for name, values := range r.Header {
		if name == "Host" {
			continue // counted above; net/http moves it to r.Host
		}
		for _, v := range values {
			n += len(name) + 2 + len(v) + 2
		}
		if n > limit {
			return n
		}
	}
	return n
}
