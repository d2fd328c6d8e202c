// Package redisstore is an [idempotency.Store] in Redis, shared by every
// process that uses the same Redis: the handler of a request runs once even
// when its duplicates reach different servers.
//
// Each record is one Redis hash under one key (prefix + record key), so the
// store works on a single node, with Sentinel and on Redis Cluster alike;
// every operation is one Lua script on that key, run atomically in one round
// trip (EVALSHA, falling back to EVAL once when the script cache is empty):
// claim (which also returns an existing record, for replay, in-progress and
// reuse decisions), renew (the lease of a running request), commit, release
// and get. Deadlines come from the Redis
// server's clock (TIME), and the key's TTL is set inside the same script:
// the lease while in progress, the retention once completed, so nothing is
// left behind by a crashed process.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
//	store, err := redisstore.New(rdb, redisstore.Config{Prefix: "myapp:idem:"})
//	if err != nil { ... }
//	idem, err := idempotency.New(idempotency.Config{Store: store}) // a guard.Guard for any door
//
// Package ratelimit/redisstore has the same name: a file that imports both
// gives them aliases (idemredis, rlredis). The first build of a module that
// uses either needs go get github.com/redis/go-redis/v9.
package redisstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/clipia/apiguard/idempotency"
	"github.com/redis/go-redis/v9"
)

// DefaultPrefix is the key prefix used when Config.Prefix is empty.
const DefaultPrefix = "apiguard:idempotency:"

// Config configures [New]. The zero value is valid.
type Config struct {
	// Prefix is prepended to every record key. Empty means
	// [DefaultPrefix]. Give each application its own prefix when they share
	// a Redis.
	Prefix string

	// Timeout bounds each store call (one round trip). Zero means one
	// second. A request whose claim times out answers 503 and does not run.
	// go-redis honours the deadline only when the client was built with
	// Options.ContextTimeoutEnabled; without it, the client's ReadTimeout
	// and WriteTimeout (3 s by default) bound the wait instead.
	Timeout time.Duration
}

// Store is the Redis store. It holds no state of its own besides the
// client, so it is safe for concurrent use and needs no Close; the client
// belongs to the caller.
type Store struct {
	rdb     redis.UniversalClient
	prefix  string
	timeout time.Duration
}

// Name returns "redis", the store's name in apiguard.store.duration.
func (s *Store) Name() string { return "redis" }

var _ idempotency.Store = (*Store)(nil)

// New returns a store on rdb: a *redis.Client, *redis.ClusterClient,
// *redis.Ring or a failover (Sentinel) client. It returns an error when
// rdb is nil.
func New(rdb redis.UniversalClient, cfg Config) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("redisstore: nil client")
	}
	if cfg.Timeout < 0 {
		return nil, errors.New("redisstore: negative Timeout")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	return &Store{rdb: rdb, prefix: cfg.Prefix, timeout: cfg.Timeout}, nil
}

// Fields of the record hash: s state ("p" in progress, "c" completed),
// f fingerprint, t token, e deadline in Redis server milliseconds, r the
// encoded response. A record past its deadline counts as absent even before
// Redis expires the key.
const luaNow = `
local now = redis.call('TIME')
local nowms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
`

// claim: KEYS[1] record; ARGV fingerprint, token, lease ms.
// Returns {1} when claimed, else {0, state, fingerprint, token, ms left, response}.
// A live claim holding this very token answers {1} again: go-redis may
// re-send the script after a lost reply, and the re-send must not turn the
// request's own claim into "in progress".
var claimScript = redis.NewScript(luaNow + `
local r = redis.call('HMGET', KEYS[1], 's', 'f', 't', 'e', 'r')
if r[1] then
  local e = tonumber(r[4]) or 0
  if e > nowms then
    if r[1] == 'p' and r[3] == ARGV[2] then
      return {1}
    end
    return {0, r[1], r[2] or '', r[3] or '', e - nowms, r[5] or ''}
  end
  redis.call('DEL', KEYS[1])
end
local lease = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 's', 'p', 'f', ARGV[1], 't', ARGV[2], 'e', nowms + lease)
redis.call('PEXPIRE', KEYS[1], lease)
return {1}
`)

// luaOwned is the fencing of commit, release and renew: it returns 0 unless
// KEYS[1] is a live in-progress record owned by the token ARGV[1]. It
// follows luaNow, whose nowms it reads.
const luaOwned = `
local r = redis.call('HMGET', KEYS[1], 's', 't', 'e')
if r[1] ~= 'p' or r[2] ~= ARGV[1] or (tonumber(r[3]) or 0) <= nowms then
  return 0
end
`

// commit: KEYS[1] record; ARGV token, retention ms, response. Returns 1 or 0.
// A re-sent commit (after a lost reply) is refused like any second commit:
// the first one stands, and the refusal is only logged.
var commitScript = redis.NewScript(luaNow + luaOwned + `
local ret = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 's', 'c', 'e', nowms + ret, 'r', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ret)
return 1
`)

// release: KEYS[1] record; ARGV token. Returns 1 or 0.
var releaseScript = redis.NewScript(luaNow + luaOwned + `
redis.call('DEL', KEYS[1])
return 1
`)

// renew: KEYS[1] record; ARGV token, lease ms. Returns 1 or 0. A re-sent
// renew (after a lost reply) extends the lease again, which is harmless.
var renewScript = redis.NewScript(luaNow + luaOwned + `
local lease = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'e', nowms + lease)
redis.call('PEXPIRE', KEYS[1], lease)
return 1
`)

// get: KEYS[1] record. Returns {0} or {1, state, fingerprint, token, ms left, response}.
var getScript = redis.NewScript(luaNow + `
local r = redis.call('HMGET', KEYS[1], 's', 'f', 't', 'e', 'r')
local e = tonumber(r[4]) or 0
if not r[1] or e <= nowms then
  return {0}
end
return {1, r[1], r[2] or '', r[3] or '', e - nowms, r[5] or ''}
`)

func millis(d time.Duration) int64 {
	ms := int64((d + time.Millisecond - 1) / time.Millisecond)
	if ms < 1 {
		ms = 1
	}
	return ms
}

// Claim implements [idempotency.Store.Claim] in one round trip.
func (s *Store) Claim(ctx context.Context, key, fingerprint string, lease time.Duration) (idempotency.ClaimResult, error) {
	token := rand.Text()
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	v, err := claimScript.Run(ctx, s.rdb, []string{s.prefix + key}, fingerprint, token, millis(lease)).Slice()
	if err != nil {
		return idempotency.ClaimResult{}, fmt.Errorf("redisstore: claim: %w", err)
	}
	if len(v) == 1 {
		if n, _ := v[0].(int64); n == 1 {
			return idempotency.ClaimResult{Claimed: true, Token: token}, nil
		}
	}
	rec, err := parseRecord(v)
	if err != nil {
		return idempotency.ClaimResult{}, fmt.Errorf("redisstore: claim: %w", err)
	}
	return idempotency.ClaimResult{Record: rec}, nil
}

// Commit implements [idempotency.Store.Commit] in one round trip.
func (s *Store) Commit(ctx context.Context, key, token string, resp idempotency.Response, retention time.Duration) error {
	blob, err := resp.MarshalBinary()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	n, err := commitScript.Run(ctx, s.rdb, []string{s.prefix + key}, token, millis(retention), blob).Int64()
	if err != nil {
		return fmt.Errorf("redisstore: commit: %w", err)
	}
	if n != 1 {
		return idempotency.ErrLeaseLost
	}
	return nil
}

// Release implements [idempotency.Store.Release] in one round trip.
func (s *Store) Release(ctx context.Context, key, token string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	n, err := releaseScript.Run(ctx, s.rdb, []string{s.prefix + key}, token).Int64()
	if err != nil {
		return fmt.Errorf("redisstore: release: %w", err)
	}
	if n != 1 {
		return idempotency.ErrLeaseLost
	}
	return nil
}

// Renew implements [idempotency.Store.Renew] in one round trip.
func (s *Store) Renew(ctx context.Context, key, token string, lease time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	n, err := renewScript.Run(ctx, s.rdb, []string{s.prefix + key}, token, millis(lease)).Int64()
	if err != nil {
		return fmt.Errorf("redisstore: renew: %w", err)
	}
	if n != 1 {
		return idempotency.ErrLeaseLost
	}
	return nil
}

// Get implements [idempotency.Store.Get] in one round trip.
func (s *Store) Get(ctx context.Context, key string) (idempotency.Record, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	v, err := getScript.Run(ctx, s.rdb, []string{s.prefix + key}).Slice()
	if err != nil {
		return idempotency.Record{}, false, fmt.Errorf("redisstore: get: %w", err)
	}
	if len(v) == 1 {
		return idempotency.Record{}, false, nil
	}
	rec, err := parseRecord(v)
	if err != nil {
		return idempotency.Record{}, false, fmt.Errorf("redisstore: get: %w", err)
	}
	return rec, true, nil
}

var errReply = errors.New("unexpected script reply")

// parseRecord reads {flag, state, fingerprint, token, ms left, response}.
func parseRecord(v []any) (idempotency.Record, error) {
	if len(v) != 6 {
		return idempotency.Record{}, errReply
	}
	state, _ := v[1].(string)
	fp, _ := v[2].(string)
	token, _ := v[3].(string)
	left, _ := v[4].(int64)
	blob, _ := v[5].(string)
	rec := idempotency.Record{
		Fingerprint: fp,
		Token:       token,
		ExpiresAt:   time.Now().Add(time.Duration(left) * time.Millisecond),
	}
	switch state {
	case "p":
		rec.State = idempotency.StateInProgress
	case "c":
		rec.State = idempotency.StateCompleted
		var resp idempotency.Response
		if err := resp.UnmarshalBinary([]byte(blob)); err != nil {
			return idempotency.Record{}, err
		}
		rec.Response = &resp
	default:
		return idempotency.Record{}, errReply
	}
	return rec, nil
}
