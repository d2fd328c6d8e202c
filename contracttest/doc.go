// Package contracttest checks, from a test, that an HTTP API built with
// apiguard answers only what its OpenAPI 3.1 document promises, and every
// error as the contract's envelope. It is for your tests: it imports
// testing.
//
// [Run] serves the handler (any front door: Echo v4 or v5, gin, net/http,
// chi) with net/http/httptest and probes every operation of the document
// over real HTTP with a fixed set of requests: no key, a bad key, a valid
// key; a malformed body, a missing required field, an unknown field, an
// ill-typed field and a field name of 100,000 characters; odd spellings of
// the path (//, /./, /../, a trailing slash, a percent-encoded letter);
// the methods the path does not serve; HEAD for a GET; Accept:
// application/problem+json; and, where the operation takes an
// Idempotency-Key, the same key twice, the same key with another body and
// a malformed key. Each answer must be
//
//   - a success the operation lists, or one of the eleven rows of
//     errorsx.Rows in the JSON envelope
//     ({"error":{"type","code","message"[,"param"]}}, nothing else inside
//     error, Content-Type application/json; charset=utf-8), or its RFC 9457
//     problem+json rendering for a client that asked for it;
//   - listed among the operation's responses in the document (an unmatched
//     path or method must be the 404 row);
//   - sent with its headers: X-Request-Id on every response (and
//     Request-Id, when sent, equal to it), X-Should-Retry
//     on every error matching the row's retryability, Retry-After in whole
//     seconds (at least 1) on 429, 503 and 409 request_in_progress,
//     WWW-Authenticate on 401, and every header the document marks
//     required on that response;
//   - the answer the contract names for that probe, where it names one (401
//     for no key, 400 for a body that cannot be valid, 404 for a path or
//     method that matches no route, a replay or a 409 for a reused key).
//
// Every defect is reported with t.Errorf, naming the operation, the probe,
// the request, what came back and what was expected; Run never stops the
// test early. It sends at most 19 requests per operation and 7 per path,
// and needs no network beyond the loopback.
//
// The document is read with encoding/json: the subset Run needs (servers,
// paths and their operations, parameters, request bodies and their JSON
// schemas, responses, security requirements and schemes, and local $refs
// into components). External $refs are not followed.
package contracttest
