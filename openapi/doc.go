// Package openapi writes the OpenAPI 3.1 document of an API built with
// apiguard from the guards on each route: what each guard adds to an
// operation (security, error rows, headers, parameters, the request body
// schema), what each handler declares (its success and the rows only it
// answers), and the error envelope of errorsx.
//
// Each guard describes itself ([Describer]): auth.Authenticator a bearer
// and, where enabled, an X-API-Key security scheme and 401 (with
// WWW-Authenticate); auth.Scopes 403 and the scopes; ratelimit.Limiter 429
// with Retry-After and the RateLimit and RateLimit-Policy headers on every
// response; ratelimit.Concurrency 429; idempotency.Guard the
// Idempotency-Key header parameter, both 409s and Idempotent-Replayed;
// bind.Binder the request body schema reflected from its Go type and
// validator tags ([Reflect]), 400, and 404 and 422 where model rules are
// registered; guard.Recover 500; guard.HeaderLimit 400; guard.RequestID the
// X-Request-Id header. A store that can fail adds 503 where the guard
// answers 503 for it.
//
// Why an explicit route table ([API].Routes) and not the router's route
// list: a router lists methods and paths, but not the guards mounted on
// them (Echo, gin and chi keep middlewares as opaque functions; a group's
// middlewares are not on its routes at all). So the app states each route
// once more, with the same guard lists it mounts — the reference server
// keeps them in one place (examples/server/app/guards.go), so the mount
// and the table cannot take different guards — and [API.Check] proves the
// table lists exactly the routes the router serves, from the door's route
// list (echo4.Patterns, echo5.Patterns, gin1.Patterns, chi5.Patterns; a
// ServeMux has no list: pass the patterns registered on it). The reference
// server runs Check when it starts, on every door.
//
// The document is built once, at start; it costs nothing per request.
// [API.JSON] writes it with paths and map members sorted, so it is the same
// bytes for the same API on every door.
package openapi
