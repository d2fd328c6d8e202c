package nethttp

import (
	"net/http"

	"github.com/clipia/apiguard/internal/frontdoor"
)

// DefaultMaxHeaderBytes is the default of [HeaderLimitConfig].MaxBytes:
// 16 KiB, more than any API client sends and far below net/http's own
// limit (http.DefaultMaxHeaderBytes, 1 MiB).
const DefaultMaxHeaderBytes = 16 << 10

// HeaderLimitConfig configures [HeaderLimit]. The zero value is valid.
type HeaderLimitConfig struct {
	// Skip skips the check when it returns true. Nil checks every request.
	Skip func(r *http.Request) bool

	// MaxBytes is the largest accepted size of the request line and header
	// fields together, counted as HTTP/1.1 sends them ("Name: value\r\n"
	// per value, Host included). Zero means [DefaultMaxHeaderBytes];
	// negative is an error.
	MaxBytes int
}

// HeaderLimit returns a middleware that answers 400 invalid_request, with
// [Error], when a request's header section is larger than cfg.MaxBytes.
// Keep http.Server.MaxHeaderBytes well above MaxBytes (the default 1 MiB
// is): net/http answers a header section over its own limit with a
// plain-text 431, outside the error contract.
//
// The returned middleware is safe for concurrent use.
func HeaderLimit(cfg HeaderLimitConfig) (func(http.Handler) http.Handler, error) {
	limit, err := frontdoor.NewHeaderLimit("nethttp", cfg.MaxBytes)
	if err != nil {
		return nil, err
	}
	return func(next http.Handler) http.Handler {
		return wrap(next, func(w http.ResponseWriter, r *http.Request) {
			if cfg.Skip == nil || !cfg.Skip(r) {
				if err := limit.Check(r); err != nil {
					Error(w, r, err)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}, nil
}
