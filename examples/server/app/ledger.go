package app

import (
	"context"
	"sync"
)

// ledger holds every tenant's credits and generations: in process memory
// (memLedger) or in PostgreSQL (pgLedger, with -postgres).
//
// Credits move so that concurrent requests of one tenant can never
// overspend and a replay never charges again: hold runs before the work
// (false: insufficient credits), then either charge, after the work, takes
// the cost and records the generation in one step (false: the credits went
// meanwhile), or release gives back what hold took.
type ledger interface {
	// balance returns the tenant's credits.
	balance(ctx context.Context, tenant string) (int64, error)
	// generation returns the tenant's generation id. Another tenant's
	// generation is reported as missing, exactly like an unknown id.
	generation(ctx context.Context, tenant, id string) (generation, bool, error)
	// hold checks, before the work, that tenant can pay cost.
	hold(ctx context.Context, tenant string, cost int64) (bool, error)
	// release undoes a hold whose work did not end in a charge.
	release(ctx context.Context, tenant string, cost int64)
	// charge takes g.Cost from g's tenant and records g, atomically.
	charge(ctx context.Context, g generation) (bool, error)
	// close releases what the ledger holds.
	close() error
}

// memLedger is the in-memory ledger. hold reserves the cost at once (taken
// from the balance), charge keeps the reservation and records the
// generation, release refunds it. It is safe for concurrent use.
type memLedger struct {
	mu          sync.Mutex
	credits     map[string]int64
	generations map[string]generation
}

func newMemLedger(startCredits map[string]int64) *memLedger {
	l := &memLedger{credits: make(map[string]int64), generations: make(map[string]generation)}
	for t, c := range startCredits {
		l.credits[t] = c
	}
	return l
}

func (l *memLedger) balance(_ context.Context, tenant string) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.credits[tenant], nil
}

func (l *memLedger) hold(_ context.Context, tenant string, cost int64) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.credits[tenant] < cost {
		return false, nil
	}
	l.credits[tenant] -= cost
	return true, nil
}

func (l *memLedger) release(_ context.Context, tenant string, cost int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.credits[tenant] += cost
}

func (l *memLedger) charge(_ context.Context, g generation) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.generations[g.ID] = g
	return true, nil
}

func (l *memLedger) generation(_ context.Context, tenant, id string) (generation, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	g, ok := l.generations[id]
	if !ok || g.tenant != tenant {
		return generation{}, false, nil
	}
	return g, true, nil
}

func (l *memLedger) close() error { return nil }
