package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/clipia/apiguard/ratelimit"
	"github.com/redis/go-redis/v9"
)

// DefaultConcurrencyPrefix is the key prefix of the concurrency store when
// ConcurrencyConfig.Prefix is empty.
const DefaultConcurrencyPrefix = "apiguard:concurrency:"

// ConcurrencyConfig configures [NewConcurrency]. The zero value is valid.
type ConcurrencyConfig struct {
	// Prefix is prepended to every key. Empty means
	// [DefaultConcurrencyPrefix]. It must not contain '{' or '}'.
	Prefix string

	// Timeout bounds each store call (one round trip). Zero means 500ms.
	// The context of the call can shorten it, never lengthen it. go-redis
	// honours the deadline on the socket only when the client has
	// ContextTimeoutEnabled; else its ReadTimeout and WriteTimeout bound
	// the wait.
	Timeout time.Duration

	// Now replaces the Redis server clock. Leave it nil in production, so
	// that every app server measures leases on the one clock of Redis;
	// tests set it to a fake clock. With Now set, a caller's key lives at
	// least an hour: Redis expires keys on its own clock, which Now does
	// not move.
	Now func() time.Time
}

// ConcurrencyStore is the Redis [ratelimit.ConcurrencyStore]: the slots of
// one caller key are ONE sorted set, Prefix + "{" + key + "}" (the hash tag
// is the whole caller key, so each caller's set lives in one Redis Cluster
// slot and different callers spread over the cluster), whose members are
// the slot tokens (128 random bits) and whose scores are the ends of their
// leases in Redis server milliseconds. Acquire and Renew are each one Lua
// script on that key, atomic in one round trip (EVALSHA, EVAL when the
// script cache is empty): it first drops the members whose lease has
// ended, so a slot held by a process that died stops counting one lease
// after its last renewal, and it sets the key to expire when its last lease
// ends, so nothing is left behind. Release is one ZREM.
//
// Every call is idempotent, so a command that go-redis re-sends after a
// lost reply does no harm: an Acquire whose token is already in the set
// reports that slot again, Renew and Release touch only their own token.
//
// It is safe for concurrent use and holds no state besides the client,
// which belongs to the caller: it needs no Close.
type ConcurrencyStore struct {
	rdb     redis.UniversalClient
	prefix  string
	timeout time.Duration
	now     func() time.Time
}

var _ ratelimit.ConcurrencyStore = (*ConcurrencyStore)(nil)

// NewConcurrency returns a concurrency store on rdb (a *redis.Client,
// *redis.ClusterClient or any other UniversalClient), or an error for a nil
// client, a negative Timeout or a Prefix containing a brace. The server
// must run Lua scripts that call TIME before writing (Redis 5 or later;
// 3.2 and 4 with effects replication, which the scripts ask for).
func NewConcurrency(rdb redis.UniversalClient, cfg ConcurrencyConfig) (*ConcurrencyStore, error) {
	if rdb == nil {
		return nil, errors.New("redisstore: nil client")
	}
	if cfg.Timeout < 0 {
		return nil, errors.New("redisstore: negative Timeout")
	}
	if strings.ContainsAny(cfg.Prefix, "{}") {
		return nil, errors.New("redisstore: Prefix must not contain '{' or '}' (the Cluster hash tag is the caller key's)")
	}
	s := &ConcurrencyStore{rdb: rdb, prefix: cfg.Prefix, timeout: cfg.Timeout, now: cfg.Now}
	if s.prefix == "" {
		s.prefix = DefaultConcurrencyPrefix
	}
	if s.timeout == 0 {
		s.timeout = 500 * time.Millisecond
	}
	return s, nil
}

// Key returns the Redis key of the slots of caller key.
func (s *ConcurrencyStore) Key(key string) string {
	return s.prefix + "{" + key + "}"
}

// concNow computes nowms, the Redis server time (or ARGV[1] when not
// empty) in milliseconds, and drops the expired slots of KEYS[1].
const concNow = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local nowms
if ARGV[1] == '' then
  local t = redis.call('TIME')
  nowms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  nowms = tonumber(ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', nowms)
`

// concExpire makes KEYS[1] expire when its last lease ends. The TTL is
// relative (PEXPIRE). With a supplied clock (a test's), the key lives an
// hour at the least: Redis expires it on its own clock, which the supplied
// one does not move, and a key kept longer never changes a decision (the
// slots are dropped by their scores against nowms).
const concExpire = `
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then
  local ttl = math.max(math.floor(tonumber(last[2])) - nowms, 0) + 1
  if ARGV[1] ~= '' and ttl < 3600000 then ttl = 3600000 end
  redis.call('PEXPIRE', KEYS[1], ttl)
end
`

// acquire: ARGV now, token, limit, lease ms. Returns {acquired, in flight}.
var concAcquireScript = redis.NewScript(concNow + `
local n = redis.call('ZCARD', KEYS[1])
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  return {1, n}
end
if n >= tonumber(ARGV[3]) then
  return {0, n}
end
redis.call('ZADD', KEYS[1], nowms + tonumber(ARGV[4]), ARGV[2])
` + concExpire + `
return {1, n + 1}
`)

// renew: ARGV now, token, lease ms. Returns 1, or 0 when the slot is gone.
var concRenewScript = redis.NewScript(concNow + `
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], nowms + tonumber(ARGV[3]), ARGV[2])
` + concExpire + `
return 1
`)

func (s *ConcurrencyStore) nowArg() string {
	if s.now == nil {
		return ""
	}
	return strconv.FormatInt(s.now().UnixMilli(), 10)
}

func concLeaseMs(lease time.Duration) int64 {
	return max(int64((lease+time.Millisecond-1)/time.Millisecond), 1)
}

func concToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Acquire implements [ratelimit.ConcurrencyStore].
func (s *ConcurrencyStore) Acquire(ctx context.Context, key string, limit int64, lease time.Duration) (ratelimit.ConcurrencyResult, error) {
	if limit < 1 || lease <= 0 {
		return ratelimit.ConcurrencyResult{}, errors.New("redisstore: concurrency limit below 1 or lease not positive")
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	token := concToken()
	v, err := concAcquireScript.Run(ctx, s.rdb, []string{s.Key(key)}, s.nowArg(), token, limit, concLeaseMs(lease)).Int64Slice()
	if err != nil {
		return ratelimit.ConcurrencyResult{}, err
	}
	if len(v) != 2 {
		return ratelimit.ConcurrencyResult{}, errors.New("redisstore: unexpected reply of the concurrency script")
	}
	if v[0] != 1 {
		return ratelimit.ConcurrencyResult{InFlight: v[1]}, nil
	}
	return ratelimit.ConcurrencyResult{Acquired: true, Token: token, InFlight: v[1]}, nil
}

// Renew implements [ratelimit.ConcurrencyStore].
func (s *ConcurrencyStore) Renew(ctx context.Context, key, token string, lease time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	n, err := concRenewScript.Run(ctx, s.rdb, []string{s.Key(key)}, s.nowArg(), token, concLeaseMs(lease)).Int64()
	if err != nil {
		return err
	}
	if n != 1 {
		return ratelimit.ErrSlotLost
	}
	return nil
}

// Release implements [ratelimit.ConcurrencyStore].
func (s *ConcurrencyStore) Release(ctx context.Context, key, token string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.rdb.ZRem(ctx, s.Key(key), token).Err()
}
