package redisstore

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"

	"github.com/clipia/apiguard/ratelimit"
	"github.com/redis/go-redis/v9"
)

// DefaultTokenBatchExpiry is the life of a local token batch when
// Config.TokenBatchExpiry is zero.
const DefaultTokenBatchExpiry = time.Second

// batchShards is the number of locks the local batches are spread over.
const batchShards = 64

// batches holds the local token batches of a Store with Config.TokenBatch:
// per caller key and set of policies, the tokens this process took from
// the shared buckets and has not spent yet.
type batches struct {
	size   int64 // Config.TokenBatch
	expiry int64 // ns
	seed   maphash.Seed
	shards [batchShards]batchShard
}

type batchShard struct {
	mu sync.Mutex
	m  map[uint64][]*batch // by hash of key and policies; collisions chained
}

// batch is one caller's local tokens for one set of policies. Its fields
// are guarded by its shard's lock.
type batch struct {
	key      string
	policies []ratelimit.Policy

	held      int64         // tokens taken from every bucket of policies, not spent yet
	expires   int64         // on the store's clock (Unix ns): then held goes back
	refilling chan struct{} // non-nil while a grant is on its way from Redis; closed when it is in
	short     bool          // the last grant brought no tokens beyond its request's cost

	// What the last reply of Redis said, for the headers of the local
	// decisions that follow: the reported policy and its bucket's ahead
	// (after the grant) at time at.
	policy int
	ahead  time.Duration
	at     int64
}

func newBatches(size int, expiry time.Duration) *batches {
	b := &batches{size: int64(size), expiry: int64(expiry), seed: maphash.MakeSeed()}
	for i := range b.shards {
		b.shards[i].m = make(map[uint64][]*batch)
	}
	return b
}

// get returns the shard and the batch of key and policies, creating it; the
// shard is locked on return.
func (b *batches) get(key string, policies []ratelimit.Policy) (*batchShard, *batch) {
	var h maphash.Hash
	h.SetSeed(b.seed)
	h.WriteString(key)
	for _, p := range policies {
		h.WriteByte(0)
		h.WriteString(p.NameOrDefault())
		var buf [16]byte
		putInt64(buf[:8], int64(p.Interval()))
		putInt64(buf[8:], int64(p.Refill()))
		h.Write(buf[:])
	}
	sum := h.Sum64()
	sh := &b.shards[sum%batchShards]
	sh.mu.Lock()
	for _, bt := range sh.m[sum] {
		if bt.key == key && samePolicies(bt.policies, policies) {
			return sh, bt
		}
	}
	bt := &batch{key: key, policies: append([]ratelimit.Policy(nil), policies...)}
	sh.m[sum] = append(sh.m[sum], bt)
	return sh, bt
}

func putInt64(b []byte, v int64) {
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}

// samePolicies reports whether a and b are the same buckets in the same
// order: names and parameters (Shadow does not matter to a store).
func samePolicies(a, b []ratelimit.Policy) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].NameOrDefault() != b[i].NameOrDefault() || a[i].Interval() != b[i].Interval() || a[i].Refill() != b[i].Refill() {
			return false
		}
	}
	return true
}

// clock returns the store's time in Unix ns: Config.Now, else the local
// clock. Only the expiry of local batches and their headers read it.
func (s *Store) clock() int64 {
	if s.now != nil {
		return s.now().UnixNano()
	}
	return time.Now().UnixNano()
}

// takeBatched is Take with local token batches (Config.TokenBatch).
func (s *Store) takeBatched(ctx context.Context, key string, policies []ratelimit.Policy, cost int64) (ratelimit.Result, error) {
	b := s.tokens
	now := s.clock()
	sh, bt := b.get(key, policies)
	for w := bt.refilling; w != nil && bt.held < max(cost, 1) && !bt.short; w = bt.refilling {
		// A grant is on its way: wait for it rather than send another
		// request to Redis, then decide on what it brought. When grants
		// bring nothing to spare (the buckets are nearly empty), waiting
		// would only queue the refusals: go to Redis at once.
		sh.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return ratelimit.Result{}, ctx.Err()
		}
		sh.mu.Lock()
	}
	var ret int64
	if bt.held > 0 && now >= bt.expires && bt.refilling == nil {
		ret, bt.held = bt.held, 0 // expired: given back by the script below
	}
	if bt.held > 0 && bt.held >= cost {
		bt.held -= cost
		res := ratelimit.Result{Policy: bt.policy}
		res.Allowed = true
		res.Remaining = bt.held
		res.ResetAfter = max(bt.ahead-time.Duration(now-bt.at), 0)
		sh.mu.Unlock()
		return res, nil
	}
	maxg := cost
	var refill chan struct{}
	if cost > 0 && bt.refilling == nil {
		// One grant at a time per batch, so that held never exceeds
		// size-1 after a decision: a concurrent request that finds the
		// batch short waits for the grant, or (still short after it)
		// takes exactly its cost.
		refill = make(chan struct{})
		bt.refilling = refill
		maxg = max(cost, b.size-bt.held)
	}
	sh.mu.Unlock()

	cmd, err := s.run1(ctx, s.shaBt, key, policies, cost, maxg, ret)
	var res ratelimit.Result
	var g int64
	if err == nil {
		res, g, err = parseBatch(cmd.Val(), policies, cost)
	}

	sh.mu.Lock()
	defer sh.mu.Unlock()
	if refill != nil {
		bt.refilling = nil
		bt.short = err != nil || g <= cost
		close(refill)
	}
	if err != nil {
		// A give-back that may not have happened is lost: the caller
		// gets fewer tokens, never more.
		return ratelimit.Result{}, err
	}
	if res.Allowed {
		if g > cost {
			bt.held += g - cost
			bt.expires = now + b.expiry
		}
		if refill != nil {
			bt.policy, bt.ahead, bt.at = res.Policy, res.ResetAfter, now
		}
	}
	// The tokens held here are the caller's too: r counts them.
	res.Remaining += bt.held
	return res, nil
}

// parseBatch turns batchScript's reply into the Result of a request of
// cost: each policy decided on its bucket's ahead for the grant g (for the
// cost when refused), so Remaining and ResetAfter describe the shared
// bucket after the grant.
func parseBatch(v []int64, policies []ratelimit.Policy, cost int64) (ratelimit.Result, int64, error) {
	if len(v) != len(policies)+2 {
		return ratelimit.Result{}, 0, errors.New("redisstore: unexpected reply of the token batch script")
	}
	g := v[1]
	take := cost
	if v[0] == 1 {
		take = g
	}
	var buf [4]ratelimit.Decision
	ds := buf[:0]
	for i, p := range policies {
		d, err := p.Decide(time.Duration(v[i+2]), take)
		if err != nil {
			return ratelimit.Result{}, 0, err
		}
		ds = append(ds, d)
	}
	r := ratelimit.Combine(ds)
	if r.Allowed != (v[0] == 1) || (r.Allowed && g < cost) {
		return ratelimit.Result{}, 0, errors.New("redisstore: the token batch script and ratelimit.Policy.Decide disagree")
	}
	return r, g, nil
}

// giveBack returns the unspent tokens of every batch that expired by now
// (all of them when all is set) to Redis, in one pipeline, and forgets the
// batches that hold nothing.
func (s *Store) giveBack(ctx context.Context, all bool) error {
	b := s.tokens
	now := s.clock()
	type back struct {
		key      string
		policies []ratelimit.Policy
		n        int64
	}
	var backs []back
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.Lock()
		for h, list := range sh.m {
			kept := list[:0]
			for _, bt := range list {
				if bt.refilling != nil || (!all && now < bt.expires) {
					kept = append(kept, bt)
					continue
				}
				if bt.held > 0 {
					backs = append(backs, back{bt.key, bt.policies, bt.held})
					bt.held = 0
				}
			}
			clear(list[len(kept):])
			if len(kept) == 0 {
				delete(sh.m, h)
			} else {
				sh.m[h] = kept
			}
		}
		sh.mu.Unlock()
	}
	if len(backs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	pipe := s.client.Pipeline()
	cmds := make([]*redis.IntSliceCmd, len(backs))
	for i, bk := range backs {
		cmds[i] = redis.NewIntSliceCmd(ctx, s.args(s.shaRet, bk.key, bk.policies, 0, 0, bk.n)...)
		_ = pipe.Process(ctx, noRetry{cmds[i]})
	}
	_, _ = pipe.Exec(ctx)
	var retry []*redis.IntSliceCmd
	for _, c := range cmds {
		if isNoScript(c.Err()) {
			retry = append(retry, redis.NewIntSliceCmd(ctx, s.toEval(c.Args())...))
		}
	}
	if len(retry) > 0 {
		pipe = s.client.Pipeline()
		for _, c := range retry {
			_ = pipe.Process(ctx, noRetry{c})
		}
		_, _ = pipe.Exec(ctx)
	}
	var errs []error
	for _, c := range cmds {
		if err := c.Err(); err != nil && !isNoScript(err) {
			errs = append(errs, err)
		}
	}
	for _, c := range retry {
		errs = append(errs, c.Err())
	}
	return errors.Join(errs...)
}

// sweeper gives back expired batches every expiry (with the local clock;
// a store with Config.Now gives them back only on the caller's next
// decision and on Close, so tests decide when).
func (s *Store) sweeper(every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			_ = s.giveBack(context.Background(), false)
		}
	}
}
