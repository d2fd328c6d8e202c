// Package apiguard is the map of a library of guards for Go HTTP APIs: API
// keys and scopes, typed request bodies, rate and concurrency limits, and
// idempotency keys, answering every failure in one JSON error envelope with
// exactly eleven (status, code) rows. This package holds no code; import the
// packages below.
//
// # Where to start
//
// Pick the front door of your router, install its error handler (or
// nethttp.Handler), then add guards. Every guard takes the Config of a core
// package and has the same name on the three doors:
//
//   - [github.com/clipia/apiguard/middleware]: Echo v4 (middleware.ErrorHandler,
//     middleware.Auth, middleware.RateLimit, ...).
//   - [github.com/clipia/apiguard/echo5]: Echo v5, the same names.
//   - [github.com/clipia/apiguard/nethttp]: net/http (http.ServeMux, chi,
//     anything that takes an http.Handler); guards are
//     func(http.Handler) http.Handler.
//
// The README's program (examples/quickstart) wires all of them on Echo v4;
// examples/echo5 and examples/nethttp are the same program on the other
// doors, and examples/server is the reference server that shows every row.
//
// # Core packages (no web framework)
//
//   - [github.com/clipia/apiguard/errorsx]: the catalogue of the eleven rows,
//     *errorsx.Error, the one renderer (envelope or RFC 9457 problem+json),
//     the OpenAPI components.
//   - [github.com/clipia/apiguard/principal]: the authenticated caller, carried
//     in the request's context.Context.
//   - [github.com/clipia/apiguard/auth]: API keys, key stores and caches,
//     scopes (401, 403).
//   - [github.com/clipia/apiguard/bind]: typed JSON binding, validation and
//     model rules (400, 404, 422).
//   - [github.com/clipia/apiguard/ratelimit]: token-bucket rate limits and the
//     concurrency limit (429), in memory; ratelimit/redisstore shares them
//     through Redis or Redis Cluster.
//   - [github.com/clipia/apiguard/idempotency]: Idempotency-Key handling (409,
//     exactly-once replay), in memory; idempotency/redisstore in Redis,
//     idempotency/pgstore in PostgreSQL with the handler's writes in the same
//     transaction.
//   - [github.com/clipia/apiguard/telemetry]: the OpenTelemetry instruments the
//     guards record.
//   - [github.com/clipia/apiguard/client]: the other side, reading the envelope
//     and retrying the retryable rows in a Go client; it imports only errorsx.
//
// The two Redis store packages are both named redisstore: import them with
// aliases when one file uses both. Their first build needs
// go get github.com/redis/go-redis/v9 in your module (and
// github.com/jackc/pgx/v5 for pgstore).
//
// The guides live in the repository's docs folder (errors, auth, binding,
// ratelimit, idempotency, client, openapi, sdk-users, architecture).
package apiguard
