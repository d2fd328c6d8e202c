package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"
)

// Run is the server's main: it parses args (the flags, without the program
// name) and the environment variables getenv reads (see ParseConfig),
// logs JSON lines to stderr (text when stderr is a terminal), builds the
// app with New, listens on Config.Addr and serves until ctx is cancelled
// (main cancels it on SIGINT and SIGTERM), then stops accepting
// connections and drains in-flight requests for up to 30s. ready, when not
// nil, is told the listening address once requests are accepted.
//
// Run returns nil after a clean shutdown, flag.ErrHelp for -h (the usage
// is printed to stderr), and an error when the flags are bad or the server
// cannot start or fails.
func Run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready func(addr string)) error {
	cfg, err := ParseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger := newLogger(stderr)
	srv, err := New(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	hs := newHTTPServer(cfg, srv.handler, logger)
	fw := cfg.Framework
	if fw == "" {
		fw = FrameworkEcho4
	}
	logger.Info("listening", "addr", ln.Addr().String(), "framework", fw, "store", srv.storeName)
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
//     of the response, so it also bounds the handler; Config.check makes it
//     exceed -read-timeout + -work-delay + 1s.
//   - IdleTimeout (-idle-timeout): a keep-alive connection between requests.
//
// DisableGeneralOptionsHandler sends "OPTIONS *" to the app (a 404 in the
// envelope) instead of net/http's bare 200, and net/http's own error lines
// ("http: TLS handshake error", a panicking handler's stack) go to the JSON
// log at level Warn instead of to stderr in plain text.
func newHTTPServer(cfg Config, h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:                      h,
		ReadHeaderTimeout:            cfg.ReadHeaderTimeout,
		ReadTimeout:                  cfg.ReadTimeout,
		WriteTimeout:                 cfg.WriteTimeout,
		IdleTimeout:                  cfg.IdleTimeout,
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
