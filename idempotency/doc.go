// Package idempotency makes retried POST (and PATCH, PUT, DELETE) requests
// safe: a request sent again with the same Idempotency-Key runs the handler
// once, and every retry gets the first answer back, byte for byte, with
// Idempotent-Replayed: true.
//
// The package is the framework-neutral core ([New], [Guard.Serve]); install
// it through a front door, after authentication (so keys are scoped to the
// caller) and before validation:
//
//	store := idempotency.NewMemoryStore(idempotency.MemoryConfig{}) // or redisstore.New(rdb, …)
//	defer store.Close()
//	cfg := idempotency.Config{Store: store}
//
//	idem, err := idempotency.New(cfg)                   // a guard.Guard
//	e.POST("/v1/generations", create, echo4.Use(idem)) // Echo v4; echo5.Use, gin1.Use alike
//	e.POST("/v1/generations", createGeneration, auth, idem)
//
//	mux.Handle("POST /v1/generations", nethttp.Use(idem)(create)) // net/http, chi
//	mux.Handle("POST /v1/generations", auth(idem(createGeneration)))
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
// "Same request" means the same [Fingerprint]: method, path as sent (path
// parameters included), query parameters, the body's media type and the
// body, JSON bodies compared by meaning (key order and whitespace do not
// matter; numbers compare as written, so 5 and 5.0 differ). Records are
// keyed by scope (the authenticated tenant, see [DefaultScope]), method,
// route and key, so two tenants never see each other's records.
//
// # Lifecycle
//
// Each step is one atomic [Store] operation. Claim creates an in-progress
// record with a lease (Config.Lease, 30 s) and a fencing token, or returns
// the existing record in the same step. The handler runs; once it has run
// for Lease/3, a goroutine of its own renews the lease every Lease/3 (Renew,
// one store call), so a handler slower than the lease still runs once (a
// faster handler costs no goroutine: one timer per guard watches the
// claims). Its response is captured as the
// client sees it (errors are rendered through the app's error handler
// first). Commit stores it, or Release deletes the claim. When an owner
// dies, its lease expires and a retry can claim the key again; the old
// owner's late commit is then refused ([ErrLeaseLost]). If a running
// handler loses its claim (the store unreachable until the lease ran out,
// or the key taken over), its context is cancelled and
// context.Cause(r.Context()) is [ErrLeaseLost].
//
// # When the store fails
//
// A commit that fails (store unreachable, Redis paused or restarted) is
// retried in the background with backoff while the claim is still held,
// renewing it when due, for at most one lease; the client gets its response
// after the first attempt, or after half a second when the store is slow. Meanwhile duplicates get 409 request_in_progress
// (from this process even while the store is unreachable) and, once the
// commit lands, the replay. If the store forgot the claim (a Redis restarted
// without persistence), the key is claimed again with the same fingerprint
// before committing. [Pending] lets a graceful shutdown wait for these
// retries.
//
// The limit: the record and the side effects of the handler are not stored
// in one transaction, so a store outage longer than what is left of the
// lease when it starts (at least two thirds of it, the lease being renewed
// every Lease/3) loses the response: it is logged at Error ("response not
// stored"), and a retry runs the request again. A Redis that restarts empty
// also forgets the claims of running requests until their next renewal (at
// most Lease/3): a duplicate that reaches another process in that window
// runs again. A store that commits the record in the same transaction as
// the handler's own writes, a [TxStore], removes these windows: the guard
// holds the response back until that commit succeeded (see [Guard.Serve]).
//
// Stores: [MemoryStore] (the default, one process) and
// github.com/clipia/apiguard/idempotency/redisstore (shared). The package
// idempotency/storetest holds the behaviour suite both pass.
package idempotency
