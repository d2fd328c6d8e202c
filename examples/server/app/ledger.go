package app

import (
	"sync"
)

// ledger holds every tenant's credits and generations, in process memory.
// It is safe for concurrent use.
//
// Credits move in two steps so that concurrent requests of one tenant can
// never overspend: reserve takes the cost from the balance before the work
// starts (or refuses with insufficient credits), and the reservation is then
// either kept, when the generation succeeds, or refunded.
type ledger struct {
	mu          sync.Mutex
	credits     map[string]int64
	generations map[string]generation
}

func newLedger(startCredits map[string]int64) *ledger {
	l := &ledger{credits: make(map[string]int64), generations: make(map[string]generation)}
	for t, c := range startCredits {
		l.credits[t] = c
	}
	return l
}

// balance returns the tenant's credits.
func (l *ledger) balance(tenant string) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.credits[tenant]
}

// reserve takes cost from tenant's balance, or reports false when the
// balance is below it.
func (l *ledger) reserve(tenant string, cost int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.credits[tenant] < cost {
		return false
	}
	l.credits[tenant] -= cost
	return true
}

// refund gives a reservation back.
func (l *ledger) refund(tenant string, cost int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.credits[tenant] += cost
}

// record stores a finished generation.
func (l *ledger) record(g generation) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.generations[g.ID] = g
}

// generation returns the tenant's generation id. Another tenant's generation
// is reported as missing, exactly like an unknown id.
func (l *ledger) generation(tenant, id string) (generation, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	g, ok := l.generations[id]
	if !ok || g.tenant != tenant {
		return generation{}, false
	}
	return g, true
}
