// Package auth answers one question: who is calling, from an API key.
//
// An [Authenticator] ([New]) reads the key of a request ("Authorization:
// Bearer <key>", optionally a second header such as "X-API-Key"), checks its
// form, asks a [KeyStore] for the [principal.Principal] it belongs to and
// returns it, or the error the contract answers: 401 invalid_api_key for a
// missing, malformed, unknown or revoked key (all alike, so a caller cannot
// learn which keys exist), 503 service_unavailable when the store fails.
// [Scopes] ([NewScopes], [RequireScopes], [RequireAnyScope]) then check the
// principal's permissions: 403 insufficient_scope, or 401 when no principal
// is in the context (scope checks fail closed).
//
// Keys are stored hashed: [MemoryKeyStore] holds SHA-256 digests only and
// compares digests in constant time; [CachedKeyStore] puts a cache keyed by
// digest in front of a slower store (a database). No key is ever logged,
// kept in clear or put into an error.
//
// The package logs nothing: every rejection carries its reason as the
// error's private cause ([ErrRejected]), which the renderer (errorsx) logs
// once per failed request. It imports principal and errorsx and no web
// framework or validator; an [Authenticator] and a [Scopes] are guards
// (guard.Guard) that every front door mounts with its Use (echo4.Use,
// echo5.Use, gin1.Use, nethttp.Use), and likewise
// Scopes, RequireScopes and RequireAnyScope.
package auth
