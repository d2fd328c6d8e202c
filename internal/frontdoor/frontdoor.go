// Package frontdoor holds the logic that apiguard's front doors (middleware
// for Echo v4, echo5 for Echo v5, nethttp for net/http) share and that is
// not the contract itself: the request id, a recovered panic as an error,
// the header-size limit, the HEAD writer, and the mapping of an error that
// carries its own HTTP status. It imports no web framework, so each door
// stays a thin translation of its framework onto these functions.
package frontdoor

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"

	"github.com/clipia/apiguard/errorsx"
)

// RequestID gives the request r an id, as errorsx.RequestID does (the id
// already on h, else a sane incoming X-Request-Id, else a new UUID), sets
// it on h, and with send also as Request-Id. It returns the id.
func RequestID(h http.Header, r *http.Request, send bool) string {
	id := errorsx.RequestID(h, r)
	if send {
		h.Set(errorsx.HeaderRequestIDStripe, id)
	}
	return id
}

// ErrPanic is the cause of the internal_error a recovered panic turns into;
// every front door exports it as its own ErrPanic.
var ErrPanic = errors.New("panic recovered")

// DefaultStackSize is the default of a RecoverConfig's StackSize: 8 KiB.
const DefaultStackSize = 8 << 10

// StackSize returns the stack size a RecoverConfig asks for: n, or
// [DefaultStackSize] for zero; an error names door for a negative n.
func StackSize(door string, n int) (int, error) {
	switch {
	case n < 0:
		return 0, errors.New(door + ": RecoverConfig.StackSize is negative")
	case n == 0:
		return DefaultStackSize, nil
	}
	return n, nil
}

// Recovered returns the 500 internal_error of the panic value v, with at
// most stackSize bytes of the panicking goroutine's stack for the log. It
// re-panics http.ErrAbortHandler, as net/http expects, so call it from the
// deferred function that recovered v.
func Recovered(v any, stackSize int) *errorsx.Error {
	if v == http.ErrAbortHandler {
		panic(v)
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

// DefaultMaxHeaderBytes is the default largest header section: 16 KiB.
const DefaultMaxHeaderBytes = 16 << 10

// HeaderLimit answers a request whose header section is too large.
type HeaderLimit struct {
	max      int
	tooLarge *errorsx.Error
}

// NewHeaderLimit returns the limit of maxBytes (zero means
// [DefaultMaxHeaderBytes]); a negative maxBytes is an error naming door.
func NewHeaderLimit(door string, maxBytes int) (*HeaderLimit, error) {
	switch {
	case maxBytes < 0:
		return nil, fmt.Errorf("%s: HeaderLimit: MaxBytes must not be negative, got %d", door, maxBytes)
	case maxBytes == 0:
		maxBytes = DefaultMaxHeaderBytes
	}
	return &HeaderLimit{
		max: maxBytes,
		tooLarge: errorsx.InvalidRequest().
			WithMessage("The request headers are too large: at most " + strconv.Itoa(maxBytes) + " bytes are accepted."),
	}, nil
}

// Check returns the 400 invalid_request of a request whose request line and
// header fields together, counted as HTTP/1.1 sends them, are larger than
// the limit, else nil.
func (l *HeaderLimit) Check(r *http.Request) error {
	if headerSize(r, l.max) > l.max {
		return l.tooLarge
	}
	return nil
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
