// Package apiguard is the map of a library of guards for Go HTTP APIs: API
// keys and scopes, typed request bodies, rate and concurrency limits, and
// idempotency keys, answering every failure in one JSON error envelope with
// exactly eleven (status, code) rows. This package holds no code; import the
// packages below.
//
// # Where to start
//
// Build each guard once from its core package, then mount it on the front
// door of your router: Install once (the one renderer, the request-level
// guards, HEAD wherever GET is served, odd paths answered 404), Use on
// groups and routes. The guards are the same values on every door:
//
//   - [github.com/clipia/apiguard/guard]: the one contract every guard and
//     door speaks (guard.Guard, guard.Call), the request-level guards
//     (RequestID, Recover, HeaderLimit) and guard.Must.
//   - [github.com/clipia/apiguard/middleware/echo4]: Echo v4 (echo4.Install,
//     echo4.Use).
//   - [github.com/clipia/apiguard/middleware/echo5]: Echo v5, the same names.
//   - [github.com/clipia/apiguard/middleware/gin1]: gin (gin1.Install returns
//     the handler to serve; gin1.Use, gin1.Handle).
//   - [github.com/clipia/apiguard/middleware/nethttp]: net/http's ServeMux or
//     any http.Handler (nethttp.Install, nethttp.Use, nethttp.HandlerFunc).
//   - [github.com/clipia/apiguard/middleware/chi5]: chi, through the net/http
//     door (chi5.Routes).
//
// The README's program (examples/quickstart) wires all of them on Echo v4;
// examples/echo5, examples/gin, examples/nethttp and examples/chi are the same
// program on the other doors, and examples/server is the reference server
// that shows every row on each of them.
//
// # Core packages (no web framework)
//
//   - [github.com/clipia/apiguard/errorsx]: the catalogue of the eleven rows,
//     *errorsx.Error, the one renderer (envelope or RFC 9457 problem+json),
//     the OpenAPI components.
//   - [github.com/clipia/apiguard/principal]: the authenticated caller, carried
//     in the request's context.Context.
//   - [github.com/clipia/apiguard/auth]: API keys (auth.New), key stores and
//     caches, scopes (auth.RequireScopes, auth.NewScopes) (401, 403).
//   - [github.com/clipia/apiguard/bind]: typed JSON binding (bind.New,
//     bind.Body), validation and model rules (400, 404, 422).
//   - [github.com/clipia/apiguard/ratelimit]: token-bucket rate limits
//     (ratelimit.New) and the concurrency limit (ratelimit.NewConcurrency)
//     (429), in memory; ratelimit/redisstore shares them through Redis or
//     Redis Cluster.
//   - [github.com/clipia/apiguard/idempotency]: Idempotency-Key handling
//     (idempotency.New) (409, exactly-once replay), in memory;
//     idempotency/redisstore in Redis, idempotency/pgstore in PostgreSQL with
//     the handler's writes in the same transaction.
//   - [github.com/clipia/apiguard/telemetry]: the OpenTelemetry instruments the
//     guards record.
//   - [github.com/clipia/apiguard/client]: the other side, reading the envelope
//     and retrying the retryable rows in a Go client; it imports only errorsx.
//   - [github.com/clipia/apiguard/contracttest]: for your tests, one call
//     (contracttest.Run) that probes every operation of your OpenAPI document
//     over HTTP and fails the test for any answer that is not a documented
//     row of the catalogue with its headers.
//
// The two Redis store packages are both named redisstore: import them with
// aliases when one file uses both. Their first build needs
// go get github.com/redis/go-redis/v9 in your module (and
// github.com/jackc/pgx/v5 for pgstore).
//
// The guides live in the repository's docs folder (errors, auth, binding,
// ratelimit, idempotency, client, openapi, contracttest, sdk-users,
// architecture).
package apiguard
