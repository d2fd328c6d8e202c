// Package redisstore is a Redis-backed [ratelimit.Store], for rate limits
// shared by several server instances.
//
// Every decision is ONE Lua script run (EVALSHA, falling back to EVAL only
// when Redis answers NOSCRIPT) that reads the caller's buckets, decides
// against all the route's policies with the same GCRA as the memory store,
// and, only when every policy allows the request, advances each bucket.
// Time is the Redis server's (TIME), so the app servers' clocks never matter.
// A bucket is one string key holding its theoretical arrival time, set with
// an expiry equal to the time until the bucket is full again: a full bucket
// costs no memory.
//
// # Keys and Redis Cluster
//
// The bucket of policy P for caller K is Prefix + "{k:" + K + "}:" + P, e.g.
// "apiguard:ratelimit:{k:key:key_123}:burst". The hash tag (never empty,
// whatever K holds) puts all of one caller's buckets in one slot, so the
// script touches all of a request's policies atomically in one round trip on
// Redis Cluster too, while different callers spread over the cluster. Policy
// names cannot contain "}", so distinct (K, P) pairs never share a key, and
// New refuses a prefix containing "{" or "}", which would move the tag.
//
// This is a deliberate choice: the several policies of a route (say, per
// second and per day) are decided in ONE script, so a request costs one round
// trip and a refusal by one policy never charges another. The price is that
// one caller's buckets live on one Cluster node, which is also where that
// caller's traffic goes anyway.
//
// # Round trips, retries and batching
//
// Concurrent decisions are batched into pipelines (auto-pipelining): a few
// worker goroutines each send whatever decisions are waiting, up to
// MaxBatch, as one pipeline, so under load a round trip carries many
// decisions while a lone request is sent at once. Each decision is still its
// own atomic script run. Commands are marked not retryable, so go-redis never
// re-sends a script after a timeout or a broken connection (it could run
// twice and take tokens twice); only a NOSCRIPT reply, which means the script
// did not run, is answered by sending the script itself with EVAL.
//
// # Local token batches
//
// With Config.TokenBatch above 1 a decision usually needs no round trip at
// all: the store takes up to TokenBatch tokens of a caller's buckets in
// one script run (the same keys, so Redis Cluster is unchanged) and spends
// them in this process, giving back what is left after TokenBatchExpiry
// or at Close. A caller may then get up to (TokenBatch - 1) requests per
// process beyond its limit in a window, never more; see Config.TokenBatch
// for the bound and what the headers say. Off by default: every decision
// is exact.
//
// # Importing
//
// Package idempotency/redisstore has the same name: a file that imports both
// gives them aliases (rlredis, idemredis). The first build of a module that
// uses either needs go get github.com/redis/go-redis/v9.
package redisstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clipia/apiguard/ratelimit"
	"github.com/redis/go-redis/v9"
)

// DefaultPrefix is the key prefix used when Config.Prefix is empty.
const DefaultPrefix = "apiguard:ratelimit:"

// Config configures [New]. The zero value is valid.
type Config struct {
	// Prefix is prepended to every key. Empty means [DefaultPrefix].
	Prefix string

	// Timeout bounds the wait for one decision, queue and round trip
	// included: after it Take fails (and the middleware fails open or
	// closed), whatever the Redis client's own timeouts. Zero means 500ms.
	// The request's context can shorten the wait, never lengthen it. (With
	// MaxBatch 1 the caller's goroutine runs the command itself, so Timeout
	// is only the context deadline, which go-redis applies to the socket
	// when the client has ContextTimeoutEnabled; else its ReadTimeout and
	// WriteTimeout bound the wait.)
	Timeout time.Duration

	// MaxBatch is the largest number of decisions sent in one pipeline.
	// Zero means 64. 1 disables batching: each decision is sent on its
	// caller's goroutine as a single EVALSHA. At most 4 × MaxBatch ×
	// Pipelines decisions wait in the queue; more fail at once with
	// [ErrOverloaded] (the middleware then fails open or closed).
	MaxBatch int

	// Pipelines is the number of pipelines in flight at once, each sent by
	// one worker goroutine. Zero means 2: one is on the wire while the next
	// fills, which keeps a Redis server busy with few, deep pipelines.
	// Ignored when MaxBatch is 1.
	Pipelines int

	// TokenBatch, when above 1, lets this process take up to TokenBatch
	// tokens of a caller's buckets in one script run and spend them
	// locally, so that most decisions need no round trip (local token
	// batches; not to be confused with MaxBatch, which pipelines
	// decisions that each still run in Redis). A grant is at most half the
	// whole tokens the fullest-restricted bucket holds, and at least the
	// request's cost; the tokens are kept per caller key and set of
	// policies until spent or until TokenBatchExpiry, then given back to
	// the shared buckets (by the next decision of that caller, a sweeper,
	// or Close).
	//
	// The price is bounded over-admission: in any window of time, a
	// caller gets at most (TokenBatch - 1) × P requests more than the
	// exact bucket would admit (Burst plus the window's refill), P being
	// the number of processes holding a batch of its buckets, and never
	// more: a process never holds more than TokenBatch - 1 tokens of a
	// bucket after a decision, and tokens are only spent after Redis
	// granted them. (Batches are per set of policies: a bucket that two
	// routes share with different companions, a daily quota say, may be
	// held once per such set and process.) A 429 and its Retry-After still come from the shared
	// buckets (a request the local tokens cannot pay goes to Redis), and
	// RateLimit's r never claims more than the caller can get: on a local
	// decision it is the tokens this process holds for the caller, on a
	// decision in Redis the shared bucket's plus those. Zero or 1: off,
	// every decision in Redis, exact.
	TokenBatch int

	// TokenBatchExpiry is how long unspent tokens of a local batch stay
	// in this process before they go back to the shared buckets. Zero
	// means [DefaultTokenBatchExpiry] (1s). Ignored without TokenBatch.
	TokenBatchExpiry time.Duration

	// Now replaces the Redis server clock. Leave it nil in production, so
	// that every app server uses the one clock of Redis; tests set it to a
	// fake clock to move time without sleeping. With Now set, a bucket's
	// key lives at least an hour: Redis expires keys on its own clock,
	// which Now does not move.
	Now func() time.Time
}

// Store is the Redis [ratelimit.Store]. It is safe for concurrent use. Close
// stops its batching workers; it does not close the Redis client.
type Store struct {
	client  redis.UniversalClient
	prefix  string
	timeout time.Duration
	now     func() time.Time
	sha     any      // the script's SHA-1, boxed once
	shaCh   any      // the charge script's SHA-1, boxed once
	shaBt   any      // the token batch script's
	shaRet  any      // the give-back script's
	tokens  *batches // local token batches; nil without Config.TokenBatch

	batching bool
	maxBatch int
	maxQueue int
	mu       sync.Mutex
	queue    []*call
	wake     chan struct{}
	stop     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
	closed   bool
}

// Errors of Take besides Redis's own.
var (
	// ErrClosed is returned by Take after Close.
	ErrClosed = errors.New("redisstore: store closed")

	// ErrOverloaded is returned when the batching queue is full: Redis is
	// not keeping up.
	ErrOverloaded = errors.New("redisstore: too many decisions waiting for Redis")

	// ErrTimeout is returned for a decision that got no answer within
	// Timeout. It may or may not have been applied.
	ErrTimeout = errors.New("redisstore: no answer from Redis within the timeout")
)

// New returns a store that keeps its buckets in Redis through client (a
// *redis.Client, *redis.ClusterClient or any other UniversalClient), or an
// error for a nil client, a negative setting or a prefix containing a brace.
// The server must run Lua scripts that call TIME before writing (Redis 5 or
// later; 3.2 and 4 with effects replication, which the script asks for).
func New(client redis.UniversalClient, cfg Config) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: nil client")
	}
	if cfg.Timeout < 0 || cfg.MaxBatch < 0 || cfg.Pipelines < 0 || cfg.TokenBatch < 0 || cfg.TokenBatchExpiry < 0 {
		return nil, errors.New("redisstore: negative Timeout, MaxBatch, Pipelines, TokenBatch or TokenBatchExpiry")
	}
	if strings.ContainsAny(cfg.Prefix, "{}") {
		return nil, errors.New("redisstore: Prefix must not contain '{' or '}' (the Cluster hash tag is the caller key's)")
	}
	s := &Store{
		client:   client,
		prefix:   cfg.Prefix,
		timeout:  cfg.Timeout,
		now:      cfg.Now,
		sha:      scriptSHA(script),
		shaCh:    scriptSHA(chargeScript),
		shaBt:    scriptSHA(batchScript),
		shaRet:   scriptSHA(returnScript),
		maxBatch: cfg.MaxBatch,
		stop:     make(chan struct{}),
	}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.timeout == 0 {
		s.timeout = 500 * time.Millisecond
	}
	if s.maxBatch == 0 {
		s.maxBatch = 64
	}
	if s.maxBatch > 1 {
		s.batching = true
		n := cfg.Pipelines
		if n == 0 {
			n = 2
		}
		s.maxQueue = 4 * s.maxBatch * n
		s.wake = make(chan struct{}, n)
		s.wg.Add(n)
		for range n {
			go s.worker()
		}
	}
	if cfg.TokenBatch > 1 {
		exp := cfg.TokenBatchExpiry
		if exp == 0 {
			exp = DefaultTokenBatchExpiry
		}
		s.tokens = newBatches(cfg.TokenBatch, exp)
		if s.now == nil {
			s.wg.Add(1)
			go s.sweeper(exp)
		}
	}
	return s, nil
}

// scriptSHA returns the SHA-1 of a script, hex, boxed once.
func scriptSHA(src string) any {
	sum := sha1.Sum([]byte(src))
	return any(hex.EncodeToString(sum[:]))
}

// Key returns the Redis key of the bucket of policy for caller key.
func (s *Store) Key(key string, policy ratelimit.Policy) string {
	return s.prefix + "{k:" + key + "}:" + policy.NameOrDefault()
}

// call is one decision waiting for, or riding in, a pipeline.
type call struct {
	ctx   context.Context
	cmd   *redis.IntSliceCmd
	enq   time.Time
	done  chan struct{}
	timer *time.Timer
}

// noRetry marks a script run as not to be re-sent by go-redis: after a
// timeout or a broken connection the script may already have run.
type noRetry struct{ *redis.IntSliceCmd }

// NoRetry implements the go-redis command option.
func (noRetry) NoRetry() bool { return true }

// Name returns "redis", the store's name in apiguard's telemetry (the
// apiguard.store attribute).
func (s *Store) Name() string { return "redis" }

// Take implements [ratelimit.Store].
func (s *Store) Take(ctx context.Context, key string, policies []ratelimit.Policy, cost int64) (ratelimit.Result, error) {
	if err := ratelimit.CheckRequest(policies, cost); err != nil {
		return ratelimit.Result{}, err
	}
	if s.tokens != nil {
		return s.takeBatched(ctx, key, policies, cost)
	}
	cmd, err := s.run1(ctx, s.sha, key, policies, cost)
	if err != nil {
		return ratelimit.Result{}, err
	}
	return parse(cmd.Val(), policies, cost)
}

// Charge implements [ratelimit.Charger] in one script run: each of key's
// buckets of policies is charged cost more tokens, into debt if need be (at
// most ratelimit.Policy.DebtLimit). Like Take, it is never re-sent after a
// timeout.
func (s *Store) Charge(ctx context.Context, key string, policies []ratelimit.Policy, cost int64) error {
	for _, p := range policies {
		if err := p.Validate(); err != nil {
			return err
		}
	}
	if cost <= 0 || len(policies) == 0 {
		return nil
	}
	_, err := s.run1(ctx, s.shaCh, key, policies, cost)
	return err
}

// run1 runs the script whose SHA-1 is sha for one request; extra are the
// arguments after the policies' (the token batch script's maxg and ret).
func (s *Store) run1(ctx context.Context, sha any, key string, policies []ratelimit.Policy, cost int64, extra ...int64) (*redis.IntSliceCmd, error) {
	args := s.args(sha, key, policies, cost, extra...)
	if s.batching {
		return s.viaBatch(ctx, args)
	}
	return s.direct(ctx, args)
}

// args returns the EVALSHA arguments of one script run.
func (s *Store) args(sha any, key string, policies []ratelimit.Policy, cost int64, extra ...int64) []any {
	n := len(policies)
	args := make([]any, 3+n+2+2*n+len(extra))
	args[0], args[1], args[2] = "evalsha", sha, n
	for i, p := range policies {
		args[3+i] = s.Key(key, p)
	}
	a := args[3+n:]
	a[0] = cost
	if s.now != nil {
		a[1] = strconv.FormatInt(s.now().UnixNano(), 10)
	} else {
		a[1] = ""
	}
	for i, p := range policies {
		a[2+2*i] = int64(p.Interval())
		a[3+2*i] = int64(p.Refill())
	}
	for i, v := range extra {
		a[2+2*n+i] = v
	}
	return args
}

// parse turns the script's reply into the Result, recomputing each policy's
// decision from the bucket's ahead with the pure math of ratelimit.
func parse(v []int64, policies []ratelimit.Policy, cost int64) (ratelimit.Result, error) {
	if len(v) != len(policies)+1 {
		return ratelimit.Result{}, errors.New("redisstore: unexpected reply of the rate-limit script")
	}
	var buf [4]ratelimit.Decision
	ds := buf[:0]
	if len(policies) > len(buf) {
		ds = make([]ratelimit.Decision, 0, len(policies))
	}
	for i, p := range policies {
		d, err := p.Decide(time.Duration(v[i+1]), cost)
		if err != nil {
			return ratelimit.Result{}, err
		}
		ds = append(ds, d)
	}
	r := ratelimit.Combine(ds)
	if r.Allowed != (v[0] == 1) {
		return ratelimit.Result{}, errors.New("redisstore: the rate-limit script and ratelimit.Policy.Decide disagree")
	}
	return r, nil
}

func isNoScript(err error) bool {
	return err != nil && (errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT"))
}

func (s *Store) toEval(args []any) []any {
	ev := make([]any, len(args))
	copy(ev, args)
	src := script
	switch args[1] {
	case s.shaCh:
		src = chargeScript
	case s.shaBt:
		src = batchScript
	case s.shaRet:
		src = returnScript
	}
	ev[0], ev[1] = "eval", src
	return ev
}

// direct runs one decision on the caller's goroutine.
func (s *Store) direct(ctx context.Context, args []any) (*redis.IntSliceCmd, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	cmd := redis.NewIntSliceCmd(ctx, args...)
	err := s.client.Process(ctx, noRetry{cmd})
	if isNoScript(err) {
		cmd = redis.NewIntSliceCmd(ctx, s.toEval(args)...)
		err = s.client.Process(ctx, noRetry{cmd})
	}
	return cmd, err
}

var callPool = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &call{done: make(chan struct{}, 1), timer: t}
}}

// viaBatch queues one decision for the workers and waits for its reply.
func (s *Store) viaBatch(ctx context.Context, args []any) (*redis.IntSliceCmd, error) {
	c := callPool.Get().(*call)
	c.ctx = ctx
	c.cmd = redis.NewIntSliceCmd(ctx, args...)
	c.enq = time.Now()
	s.mu.Lock()
	if s.closed || len(s.queue) >= s.maxQueue {
		closed := s.closed
		s.mu.Unlock()
		c.ctx, c.cmd = nil, nil
		callPool.Put(c)
		if closed {
			return nil, ErrClosed
		}
		return nil, ErrOverloaded
	}
	s.queue = append(s.queue, c)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	c.timer.Reset(s.timeout)
	select {
	case <-c.done:
		c.timer.Stop()
		cmd := c.cmd
		c.ctx, c.cmd = nil, nil
		callPool.Put(c)
		return cmd, cmd.Err()
	case <-ctx.Done():
		// The call is abandoned: a worker may still send it and will
		// signal done on its buffered channel; it is not reused.
		c.timer.Stop()
		return nil, ctx.Err()
	case <-c.timer.C:
		return nil, ErrTimeout
	}
}

func (s *Store) worker() {
	defer s.wg.Done()
	batch := make([]*call, 0, s.maxBatch)
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
		}
		for {
			s.mu.Lock()
			n := min(len(s.queue), s.maxBatch)
			batch = append(batch[:0], s.queue[:n]...)
			rest := copy(s.queue, s.queue[n:])
			clear(s.queue[rest:])
			s.queue = s.queue[:rest]
			s.mu.Unlock()
			if n == 0 {
				break
			}
			s.run(batch)
			clear(batch)
		}
	}
}

// run sends one batch as a pipeline and signals every call in it.
func (s *Store) run(batch []*call) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	pipe := s.client.Pipeline()
	sent := 0
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.cmd.SetErr(err)
			continue
		}
		if time.Since(c.enq) >= s.timeout {
			c.cmd.SetErr(ErrTimeout) // its caller has given up: do not send it
			continue
		}
		_ = pipe.Process(ctx, noRetry{c.cmd})
		sent++
	}
	if sent > 0 {
		_, _ = pipe.Exec(ctx)
		var retry []*call
		for _, c := range batch {
			if isNoScript(c.cmd.Err()) {
				retry = append(retry, c)
			}
		}
		if len(retry) > 0 {
			pipe = s.client.Pipeline()
			for _, c := range retry {
				c.cmd = redis.NewIntSliceCmd(c.ctx, s.toEval(c.cmd.Args())...)
				_ = pipe.Process(ctx, noRetry{c.cmd})
			}
			_, _ = pipe.Exec(ctx)
		}
	}
	for _, c := range batch {
		c.done <- struct{}{}
	}
}

// Close stops the batching workers and fails the decisions still queued
// with [ErrClosed]; with Config.TokenBatch it first gives the unspent
// tokens of every local batch back to Redis (the error, if any, is
// returned). It does not close the Redis client. It is idempotent.
func (s *Store) Close() error {
	var err error
	if s.tokens != nil {
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if !closed {
			err = s.giveBack(context.Background(), true)
		}
	}
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		q := s.queue
		s.queue = nil
		s.mu.Unlock()
		close(s.stop)
		s.wg.Wait()
		for _, c := range q {
			c.cmd.SetErr(ErrClosed)
			c.done <- struct{}{}
		}
	})
	return err
}
