// Command server is apiguard's reference server: a small Clipia-like video
// generation API that wires every apiguard middleware the way a real app
// would. Its interface (flags, demo keys, models, routes, check order, a curl
// walk-through) is documented in examples/server/README.md and kept stable
// there. The app itself is package examples/server/app; this command only
// runs it.
//
//	go run ./examples/server                                  # in-memory stores, :8080
//	go run ./examples/server -redis redis://127.0.0.1:6379/0  # shared state in Redis
//
// # Flags
//
// Each flag can also come from the environment variable in brackets (the
// flag wins); -h lists them.
//
//   - -addr [ADDR]: listen address (:8080).
//   - -framework [FRAMEWORK]: the front door, echo4 (Echo v4, the
//     default), echo5 (Echo v5), nethttp (net/http's ServeMux), chi or gin;
//     every route, status, header and body is the same on each, and
//     processes on different doors over one store share idempotency keys
//     and rate-limit buckets.
//   - -redis [REDIS_URL]: keep rate limits and idempotency keys in this
//     Redis (one node, or a cluster with addr parameters); empty: in memory.
//   - -postgres [DATABASE_URL]: keep the credits ledger, the generations
//     and the idempotency records in this PostgreSQL database.
//   - -rate [RATE], -burst [BURST]: the per-key rate limit (10/s, burst 20).
//   - -max-in-flight [MAX_IN_FLIGHT]: most generations in flight per tenant
//     on POST /v1/generations (0: off).
//   - -limit-fail [LIMIT_FAIL]: open (default) or closed, what the rate and
//     in-flight limits do while their Redis is unreachable: let requests
//     through (the outage logged once and counted) or answer 503
//     service_unavailable with Retry-After.
//   - -work-delay [WORK_DELAY]: how long a generation runs (200ms).
//   - -idempotency-ttl [IDEMPOTENCY_TTL], -lock-ttl [LOCK_TTL]: retention of
//     idempotency results (24h) and in-progress lock expiry (30s).
//   - -credits [CREDITS]: starting credits of each demo tenant that has
//     some (1000).
//   - -read-header-timeout, -read-timeout, -write-timeout, -idle-timeout:
//     see Timeouts.
//
// Besides the contract's rows, the server turns on what the library offers:
// RFC 9457 problem+json for clients whose Accept prefers it, the API key
// from X-API-Key as well as Authorization: Bearer, strict bodies (an unknown
// field is a 400 naming it), and a 16 KiB limit on request headers
// (guard.HeaderLimit, a 400 in the envelope).
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
// request_id, key_id, method, route (the route's template, the same on
// every door: /v1/generations/{id}), status and latency_ms. go-redis's and
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
	"os"
	"os/signal"
	"syscall"

	"github.com/clipia/apiguard/examples/server/app"
	"github.com/gin-gonic/gin"
)

func main() {
	// gin prints its routes to stdout in its default debug mode; the
	// server logs JSON on stderr only. GIN_MODE still wins.
	if os.Getenv(gin.EnvGinMode) == "" {
		gin.SetMode(gin.ReleaseMode)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := app.Run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // -h: the usage is printed
		}
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}
