// Package idempotency makes retried POST (and PATCH, PUT, DELETE) requests
// safe: a request sent again with the same Idempotency-Key runs the handler
// once, and every retry gets the first answer back, byte for byte, with
// Idempotent-Replayed: true.
//
// Install the middleware after authentication (so keys are scoped to the
// caller) and before validation:
//
//	store := idempotency.NewMemoryStore(idempotency.MemoryConfig{}) // or redisstore.New(rdb, …)
//	defer store.Close()
//	mw, err := idempotency.New(idempotency.Config{Store: store})
//	if err != nil { … }
//	e.POST("/v1/generations", createGeneration, auth, mw)
//
// # What a client sees
//
//	first request, handler answers 2xx or 4xx   the answer; stored for Retention (24 h)
//	first request, handler answers 5xx or 429   the answer; not stored, a retry runs again
//	  (also: panic, cancelled request, X-Should-Retry: true, a response that was
//	  flushed, hijacked or is over MaxResponseSize)
//	same key, same request, completed          the stored status, body and allowlisted
//	                                            headers, Idempotent-Replayed: true
//	same key, same request, still running      409 request_in_progress, Retry-After
//	same key, other request                    409 idempotency_key_reuse (checked first)
//	bad key (empty, > 255, not printable ASCII) 400 invalid_request, param Idempotency-Key
//	store unreachable                           503 service_unavailable; handler not run
//
// "Same request" means the same [Fingerprint]: method, route, query
// parameters and body, with JSON bodies compared by meaning. Records are
// keyed by scope (the authenticated tenant, see [DefaultScope]), method,
// route and key, so two tenants never see each other's records.
//
// # Lifecycle
//
// Each step is one atomic [Store] operation. Claim creates an in-progress
// record with a lease (Config.Lease, 30 s) and a fencing token, or returns
// the existing record in the same step. The handler runs; its response is
// captured as the client sees it (errors are rendered through the Echo
// error handler first). Commit stores it, or Release deletes the claim.
// When an owner dies, its lease expires and a retry can claim the key
// again; the old owner's late commit is then refused ([ErrLeaseLost]).
//
// Stores: [MemoryStore] (the default, one process) and
// github.com/clipia/apiguard/idempotency/redisstore (shared). The package
// idempotency/storetest holds the behaviour suite both pass.
package idempotency
