// Package guard is the one contract between apiguard's guards and its front
// doors. Every guard — request id, recover, header limit, auth
// (auth.Authenticator), scopes (auth.Scopes), rate limit (ratelimit.Limiter),
// concurrency limit (ratelimit.Concurrency), idempotency (idempotency.Guard)
// and binding (bind.Binder) — is a [Guard]: it serves one request shape,
//
//	Serve(w http.ResponseWriter, r *http.Request, c Call) error
//
// and every front door (middleware/echo4, middleware/echo5, middleware/gin1,
// middleware/nethttp for ServeMux and chi) only translates its framework
// into a [Call]: the route that matched, in one canonical spelling
// ([Template]), the path parameters, how to run the rest of the chain, and
// how to hand an error to the app's one renderer.
//
// What the contract decides once, for every door:
//
//   - An unmatched request is a 404 whoever sees it first: a [Chain] answers
//     404 not_found before any guard that acts on a route runs, so an
//     unknown path needs no key, spends no token and claims no idempotency
//     key. Request-level guards ([RequestID], [Recover], [HeaderLimit]) run
//     for every request.
//   - One identity: [Template] spells a route the same whatever the door
//     (Echo's "/v1/generations/:id", ServeMux's "GET /v1/generations/{id}"
//     and chi's "/v1/generations/{id:[a-z0-9_]+}" are all
//     "/v1/generations/{id}"), so idempotency records, rate-limit buckets,
//     metrics and logs are one across doors.
//   - One reading of a path ([CleanPath]): percent-encoded unreserved
//     characters are the characters themselves (RFC 3986 §6.2.2.2), and a
//     path with an empty, "." or ".." segment is routed nowhere (404), never
//     redirected.
//   - Render once: a guard returns its error; the door hands it to the one
//     renderer (errorsx.Renderer). A guard that needs the response as the
//     client saw it renders early with [Call.Render] and returns
//     errorsx.Rendered(err), which no door renders again.
//
// A door's per-request [Call] is pooled: a Guard must not keep c, w or r
// after Serve returns.
package guard
