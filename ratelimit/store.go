package ratelimit

import "context"

// Store keeps the buckets. Its one call, Take, is a single atomic step, so
// two requests racing for the last token never both get it, and a refused
// request never consumes anything.
//
// Implementations must be safe for concurrent use. The in-memory store
// ([NewMemoryStore]) is the default; package redisstore shares buckets
// between server instances through Redis.
type Store interface {
	// Take checks the request of caller key against every policy. Only if
	// all of them allow it does it take cost tokens from each of the key's
	// buckets (one bucket per policy Name and key); otherwise it changes
	// nothing. A cost of 0 takes nothing and reports the buckets as they
	// are.
	//
	// Invalid input is reported as an error from [CheckRequest] (a
	// [*CostError] for a cost above a Burst); any other error means the
	// store could not decide.
	Take(ctx context.Context, key string, policies []Policy, cost int64) (Result, error)
}

// Charger is implemented by stores that can charge a caller after the
// response, for costs known only then (see [AddCost] and
// Config.DeferredCost). The memory store and package redisstore implement
// it; [New] refuses Config.DeferredCost with a store that does not.
type Charger interface {
	// Charge takes cost more tokens from each of key's buckets of the
	// given policies, unconditionally: a bucket may go into debt, at most
	// down to [Policy.DebtLimit], and then refuses every request until the
	// debt is paid by time. A cost of 0 or less changes nothing. Invalid
	// policies are reported as an error wrapping [ErrInvalidPolicy]; any
	// other error means the store could not charge.
	Charge(ctx context.Context, key string, policies []Policy, cost int64) error
}
