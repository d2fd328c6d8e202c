// Package ratelimit is apiguard's rate limiter: token buckets per caller and
// per route, answering 429 rate_limit_exceeded with Retry-After, and the
// IETF RateLimit-Policy and RateLimit headers on every response of a limited
// route.
//
// # Policies
//
// A [Policy] is one token bucket: Rate tokens per Period, holding at most
// Burst. A route may have several ("10 per second, burst 20" and "1000 per
// day"); a request passes only when every policy allows it, and a refused
// request takes nothing from any bucket. The math is GCRA in integer
// nanoseconds ([Policy.Decide]), pure and clock-free, so that both stores and
// the tests share it; rates below one per second are written with a longer
// Period. A request whose cost exceeds a policy's Burst can never pass: it is
// refused with 400 invalid_request, not with a 429 that would invite
// retries.
//
// # Stores
//
// A [Store] makes the whole decision, for all the policies of a request, in
// ONE atomic step ([Store.Take]). The in-memory [MemoryStore] is the default:
// sharded, no allocation per decision, buckets deleted as soon as they are
// full again, optionally bounded. Package redisstore shares buckets between
// server instances with one Lua script per decision on the Redis server's
// clock; package storetest is the behaviour suite both pass.
//
// Buckets are named by policy Name and caller key: two routes whose policies
// share a Name share that bucket per caller (handy for one daily quota across
// routes); give per-route limits their own names.
//
// # Limiter and front doors
//
// [New] builds a [Limiter], which imports no web framework: its
// [Limiter.Limit] (and [Limiter.Begin], which the front doors call) decides
// one *http.Request, sets the headers on the
// http.ResponseWriter and returns nil or the error to render. The front
// doors mount it as a guard.Guard ([Limiter.Serve]) with their Use
// (echo4.Use, echo5.Use, gin1.Use, nethttp.Use); each door hands its
// errors to the one renderer.
//
// The caller key is, by default, the authenticated principal's key id (see
// principal.FromContext: the auth guard puts it into the request's context),
// else the client IP that Config.ClientIP returns, by default the TCP peer
// address: a raw X-Forwarded-For header is never trusted by default. Behind
// a proxy, set Config.ClientIP (an Echo app passes its e.IPExtractor; it is
// not picked up on its own). [DefaultKeyFunc] builds that default key for
// any client-IP function, for custom key functions that extend it.
// When the store fails, the limiter fails open (allows and logs) or, with
// FailClosed, answers 503 service_unavailable; a store failure is never a
// 429.
//
// Headers, for policies PerSecond("burst", 10, 20) and PerDay("daily", 1000, 1000),
// after a few requests:
//
//	RateLimit-Policy: "burst";q=20;w=2, "daily";q=1000;w=86400
//	RateLimit: "burst";r=17;t=1
//
// RateLimit-Policy lists every policy: q is its Burst, w the seconds an empty
// bucket takes to refill. RateLimit reports the most restrictive one: r
// whole tokens left, t seconds until that bucket holds one more token (the
// meaning of IETF httpapi ratelimit-headers draft -10, section 4.1.2:
// "until additional quota ... is made available"; left out for a full
// bucket). On a 429 it reports the refusing policy, and Retry-After is the
// seconds until enough tokens exist, rounded up, at least 1: never earlier
// than t (draft -10 section 6), equal to it for a cost of 1. The renderer
// keeps that rule on every error of a limited route: a 503 or a
// concurrency 429 there never says Retry-After earlier than a RateLimit t.
//
// # Plans, shadow policies and costs known later
//
// Config.Plans gives callers their own policies (a plan or a tenant's
// override), chosen per request by Config.PlanFunc, by default from the
// principal's Metadata["plan"] ([PrincipalPlan]); callers without a plan get
// Config.Policies. Choosing a plan allocates nothing: New precomputes each
// plan's headers and telemetry attributes. A plan name PlanFunc returns that
// is not in Plans is answered 500 and logged, as the wiring bug it is.
//
// A policy with Shadow set is a dry run: decided, counted as
// shadow_limited, reported in RateLimit and logged once per caller per
// window when it would refuse, but never enforced; the way to roll out a new
// limit safely.
//
// With Config.DeferredCost, a handler that learns the real cost of its work
// only at the end charges it with [AddCost]; the front door applies it when
// the handler returns ([Limiter.Begin], [Deferred.End]) and the caller's
// buckets may go into debt, so its next requests wait for it.
//
// Anonymous IPv6 callers are keyed by their /64 (Config.IPv6PrefixLen), as
// one host can rotate through its whole /64; see [IPKey].
//
// # Telemetry
//
// Every decision is counted in the OpenTelemetry counter
// apiguard.ratelimit.decisions with the attributes apiguard.ratelimit.policy
// (the reported policy's name) and apiguard.ratelimit.outcome (allowed,
// limited, shadow_limited, error); store calls are timed in
// apiguard.store.duration (apiguard.store "memory" or "redis", operation
// "take" or "charge") and, under a recording span, traced as its children;
// a recording request span gets the outcome, the policy and the remaining
// tokens. With the default no-op providers none of it allocates. See
// package telemetry and Config.Telemetry.
//
// # Concurrency limit
//
// [NewConcurrency] limits the requests of one caller in flight at once
// (by default per tenant, else key id, else client IP): one more answers
// 429 rate_limit_exceeded with Retry-After. Each request holds a slot on a
// lease that the guard renews every Lease/3 while the handler runs, so the
// slot of a process that died frees itself after at most one lease. The
// quota is advertised with the draft's quota unit for concurrency:
//
//	RateLimit-Policy: "inflight";q=2;qu="concurrent-requests"
//	RateLimit: "inflight";r=1
//
// A [Concurrency] is a guard.Guard too; put it after the Limiter on a route (the
// rate limiter sets its header fields, the concurrency guard adds its own).
// Slots live in a [MemoryConcurrencyStore] by default, or in Redis
// (redisstore.NewConcurrency: one sorted set per caller, Cluster-safe,
// leases on the Redis server's clock).
package ratelimit
