// Command server is apiguard's reference server: a small Clipia-like video
// generation API that wires every apiguard middleware the way a real app
// would. Its interface (flags, demo keys, models, routes) is documented in
// the README and kept stable there.
//
//	go run ./examples/server                                  # in-memory stores, :8080
//	go run ./examples/server -redis redis://127.0.0.1:6379/0  # shared state in Redis
//
// Besides the contract's rows, the server turns on what the library offers:
// RFC 9457 problem+json for clients whose Accept prefers it, the API key
// from X-API-Key as well as Authorization: Bearer, strict bodies (an unknown
// field is a 400 naming it), and a 16 KiB limit on request headers
// (middleware.HeaderLimit, a 400 in the envelope).
//
// # Timeouts
//
// -read-header-timeout (10s), -read-timeout (30s, the whole request; a body
// still arriving is cut off with 400 invalid_request), -write-timeout (60s,
// from the end of the headers to the end of the response, handler included;
// it must exceed -read-timeout + -work-delay + 1s) and -idle-timeout (120s,
// keep-alive connections). Zero means none, as in net/http; a zero
// -read-header-timeout or -idle-timeout falls back to -read-timeout.
//
// # Logs
//
// JSON lines on stderr (log/slog): one "request" line per request with
// request_id, key_id, method, route, status and latency_ms. go-redis's and
// net/http's own lines go through the same logger at level WARN, go-redis's
// as "redis client" with the Redis URL's password and addresses redacted.
//
// # Answers outside the envelope
//
// Every request the app sees is answered with a row of the table. A few
// malformed requests never reach it: net/http's HTTP/1 server
// (conn.readRequest and conn.serve in net/http/server.go) answers them
// itself, in plain text with Connection: close and no X-Request-Id, before
// an http.Request exists, and http.Server has no hook to change that. The
// exact list (TestMalformedRequests checks it):
//
//   - 431: a header section over http.Server.MaxHeaderBytes (1 MiB, plus
//     4 KiB of slack). Below that, over 16 KiB, the app answers 400.
//   - 505: a protocol version other than HTTP/1.x on a cleartext
//     connection (HTTP/2.0, HTTP/3.0).
//   - 501: a Transfer-Encoding other than chunked (gzip, identity, …).
//   - 400: a malformed request line (a bad escape in the path such as
//     /v1/models/%zz, a space in the target, no version); a malformed
//     header (a NUL, \x7f or other control byte in a value, an invalid
//     name); a Host missing (HTTP/1.1), doubled or malformed; two different
//     Content-Lengths, or one that is not a number.
//   - 417: an Expect other than 100-continue.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // -h: the usage is printed
		}
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// run serves until ctx is cancelled, then drains in-flight requests. ready,
// when not nil, is told the listening address.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready func(addr string)) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger := newLogger(stderr)
	srv, err := newServer(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer srv.close()

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	hs := newHTTPServer(cfg, srv.echo, logger)
	logger.Info("listening", "addr", ln.Addr().String(), "store", srv.storeName)
	printDemoKeys(logger)
	if ready != nil {
		ready(ln.Addr().String())
	}

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down: draining in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	// Responses already sent whose idempotency records are still being
	// stored (a store blip) get the rest of the drain time.
	if err := srv.pending.Wait(shutdownCtx); err != nil {
		logger.Warn("stopped before every idempotency record was stored", "error", err.Error())
	}
	logger.Info("stopped")
	return nil
}

// maxHeaderBytes is net/http's own limit on a request's header section,
// kept at its default (1 MiB) and far above the app's middleware.HeaderLimit
// (16 KiB): a header section between the two gets the JSON envelope from
// the app; only one over this limit gets net/http's plain-text 431.
const maxHeaderBytes = http.DefaultMaxHeaderBytes

// newHTTPServer returns the http.Server that serves h with cfg's timeouts:
//
//   - ReadHeaderTimeout (-read-header-timeout): the request line and headers.
//   - ReadTimeout (-read-timeout): the whole request, body included, from
//     its first byte. A body still arriving then is cut off: the binder's
//     read fails and the client gets 400 invalid_request, then the
//     connection is closed.
//   - WriteTimeout (-write-timeout): from the end of the headers to the end
//     of the response, so it also bounds the handler; parseConfig makes it
//     exceed -read-timeout + -work-delay + 1s.
//   - IdleTimeout (-idle-timeout): a keep-alive connection between requests.
//
// DisableGeneralOptionsHandler sends "OPTIONS *" to the app (a 404 in the
// envelope) instead of net/http's bare 200, and net/http's own error lines
// ("http: TLS handshake error", a panicking handler's stack) go to the JSON
// log at level Warn instead of to stderr in plain text.
func newHTTPServer(cfg config, h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:                      h,
		ReadHeaderTimeout:            cfg.readHeaderTimeout,
		ReadTimeout:                  cfg.readTimeout,
		WriteTimeout:                 cfg.writeTimeout,
		IdleTimeout:                  cfg.idleTimeout,
		MaxHeaderBytes:               maxHeaderBytes,
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// newLogger logs JSON, or text when stderr is a terminal.
func newLogger(w io.Writer) *slog.Logger {
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return slog.New(slog.NewTextHandler(w, nil))
		}
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}
