package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/ratelimit"
)

// Config is the app's configuration. ParseConfig fills the fields that
// have a flag; the fields after them have none and are for programs that
// build the app themselves with New (benchmarks, tests). Only the zero
// value of those last fields is what the server's flags give.
type Config struct {
	// Addr is the listen address of Run (-addr, ADDR; default ":8080").
	// New ignores it.
	Addr string
	// RedisURL, when not empty, keeps rate limits and idempotency records
	// in that Redis: redis://host:port/db for one node, or a Redis Cluster
	// when the URL names more nodes with addr parameters (-redis,
	// REDIS_URL). Empty: in memory.
	RedisURL string
	// Rate is the requests per second per API key, above 0, possibly
	// fractional (-rate, RATE; default 10).
	Rate float64
	// Burst is the rate limit's burst per API key, at least 1 (-burst,
	// BURST; default 20).
	Burst int
	// WorkDelay is how long a generation runs (-work-delay, WORK_DELAY;
	// default 200ms).
	WorkDelay time.Duration
	// IdempotencyTTL is how long an idempotency result is kept, above 0
	// (-idempotency-ttl, IDEMPOTENCY_TTL; default 24h).
	IdempotencyTTL time.Duration
	// LockTTL is when an in-progress idempotency lock expires, above 0
	// (-lock-ttl, LOCK_TTL; default 30s).
	LockTTL time.Duration
	// Framework is the front door that serves the app: "echo4" (Echo v4,
	// the default), "echo5" (Echo v5), "nethttp" (net/http's ServeMux),
	// "chi" or "gin" (-framework, FRAMEWORK). Every route, status, header
	// and body is the same on all five, and so is every route's identity:
	// processes on different doors over one store share idempotency keys
	// and rate-limit buckets.
	Framework string
	// MaxInFlight, when above 0, is the most generations in flight per
	// tenant on POST /v1/generations; one more answers 429
	// rate_limit_exceeded with Retry-After (-max-in-flight, MAX_IN_FLIGHT;
	// default 0: off).
	MaxInFlight int
	// LimitBatch, above 1 and with RedisURL, lets each process take up to
	// LimitBatch tokens of a caller's rate-limit bucket from Redis at once
	// and spend them locally (ratelimit/redisstore Config.TokenBatch), so
	// most decisions need no round trip; a caller may then get up to
	// (LimitBatch - 1) requests per process beyond its limit, never more,
	// and the RateLimit headers stay truthful (-limit-batch, LIMIT_BATCH;
	// default 0: off, every decision in Redis, exact; 1 means the same).
	// Ignored without RedisURL or with RateLimitStore.
	LimitBatch int
	// PostgresURL, when not empty, keeps the credits ledger, the
	// generations and the idempotency records in that PostgreSQL database,
	// e.g. postgres://user@127.0.0.1:5432/clipia (-postgres,
	// DATABASE_URL), so several processes share balances and generations.
	// A charge is a conditional update in the same transaction as the
	// generation row and the completed idempotency record: a balance never
	// goes below zero and a replay never charges again. The app creates its
	// tables (apiguard_idempotency, clipia_credits, clipia_generations)
	// when missing, and a demo tenant with Credits only when the database
	// does not hold it yet: a process that starts later never resets a
	// balance. An unreachable database is not fatal: the routes that need
	// it answer 503 service_unavailable until it is back. The pool opens
	// connections with a 2s timeout and holds at most 64 (a guarded
	// generation holds one from its claim to its commit), plus 4 of the
	// idempotency store's own for claims and lease renewals; the URL's
	// connect_timeout, pool_max_conns and pool_min_conns win. Rate limits
	// stay in Redis with RedisURL, else in memory. IdempotencyStore, when
	// set, replaces the idempotency store only.
	PostgresURL string
	// Credits are the starting credits of every demo tenant that starts
	// with credits, not negative (-credits, CREDITS; default 1000).
	Credits int64

	// The http.Server's timeouts of Run (see newHTTPServer); New ignores
	// them. Zero means none, as in net/http; a zero ReadHeaderTimeout or
	// IdleTimeout falls back to ReadTimeout. WriteTimeout, when not zero,
	// must exceed ReadTimeout + WorkDelay + 1s.
	ReadHeaderTimeout time.Duration // -read-header-timeout, READ_HEADER_TIMEOUT; default 10s
	ReadTimeout       time.Duration // -read-timeout, READ_TIMEOUT; default 30s
	WriteTimeout      time.Duration // -write-timeout, WRITE_TIMEOUT; default 60s
	IdleTimeout       time.Duration // -idle-timeout, IDLE_TIMEOUT; default 120s

	// RateLimitStore and IdempotencyStore, when not nil, replace the
	// store that RedisURL (or memory) would give: a Redis client of the
	// caller's own (its timeouts, hooks, key prefix), say. The caller
	// owns them: App.Close does not close them. No flag.
	RateLimitStore   ratelimit.Store
	IdempotencyStore idempotency.Store
	// RateLimitFailClosed makes the rate limit and the in-flight limit
	// answer 503 service_unavailable with Retry-After while their store
	// (Redis) cannot decide (-limit-fail closed, LIMIT_FAIL=closed). The
	// default (-limit-fail open) fails open: the request passes without
	// RateLimit headers; the outage is logged once when it begins and once
	// when the store is back, and each such request is counted in the
	// metrics.
	RateLimitFailClosed bool
	// Generate, when not nil, runs each generation in place of the
	// simulated one (a wait of WorkDelay), with the request's context and
	// prompt, after credits are reserved. An error refunds the credits and
	// fails the request (a context error when the client is gone; any
	// other is a sanitised 500). It may be called concurrently. No flag.
	Generate func(ctx context.Context, prompt string) error
}

// The values of -limit-fail (LIMIT_FAIL).
const (
	LimitFailOpen   = "open"
	LimitFailClosed = "closed"
)

// The front doors of Config.Framework.
const (
	FrameworkEcho4   = "echo4"
	FrameworkEcho5   = "echo5"
	FrameworkNetHTTP = "nethttp"
	FrameworkChi     = "chi"
	FrameworkGin     = "gin"
)

// Frameworks returns the values of Config.Framework, in the order -h
// lists them; the caller may keep or change the slice.
func Frameworks() []string {
	return []string{FrameworkEcho4, FrameworkEcho5, FrameworkNetHTTP, FrameworkChi, FrameworkGin}
}

// writeMargin is how much longer than -read-timeout plus -work-delay the
// write timeout must be: the slowest request the server accepts reads its
// body for nearly -read-timeout, works for -work-delay, and must still be
// able to write its answer.
const writeMargin = time.Second

// ParseConfig reads the server's flags from args (without the program
// name), each of which can also come from the environment variable that
// getenv reads (the flag wins), and checks the values. Usage and flag
// errors are printed to stderr; -h returns flag.ErrHelp.
func ParseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Addr, "addr", envString(getenv, "ADDR", ":8080"), "listen address [ADDR]")
	fs.StringVar(&cfg.RedisURL, "redis", envString(getenv, "REDIS_URL", ""),
		"Redis URL, e.g. redis://127.0.0.1:6379/0: rate limits and idempotency keys live there; empty: in memory [REDIS_URL]")
	fs.StringVar(&cfg.Framework, "framework", envString(getenv, "FRAMEWORK", FrameworkEcho4),
		"front door: echo4 (Echo v4), echo5 (Echo v5), nethttp (net/http's ServeMux), chi or gin [FRAMEWORK]")
	fs.IntVar(&cfg.MaxInFlight, "max-in-flight", 0,
		"most generations in flight per tenant on POST /v1/generations; 0: off [MAX_IN_FLIGHT]")
	fs.IntVar(&cfg.LimitBatch, "limit-batch", 0,
		"with -redis: tokens of a caller's bucket each process takes at once and spends locally, so most\n"+
			"decisions need no round trip (at most N-1 requests per process beyond the limit); 0 or 1: off, exact [LIMIT_BATCH]")
	limitFail := fs.String("limit-fail", envString(getenv, "LIMIT_FAIL", LimitFailOpen),
		"what the rate and in-flight limits do while their store is unreachable: open (let requests through,\n"+
			"logged and counted) or closed (503 service_unavailable with Retry-After) [LIMIT_FAIL]")
	fs.StringVar(&cfg.PostgresURL, "postgres", envString(getenv, "DATABASE_URL", ""),
		"PostgreSQL URL, e.g. postgres://user@127.0.0.1:5432/clipia: credits, generations and idempotency records live there,\n"+
			"shared by every process on the database (tables created when missing; rate limits stay in Redis with -redis) [DATABASE_URL]")
	fs.Float64Var(&cfg.Rate, "rate", 10, "requests per second per API key [RATE]")
	fs.IntVar(&cfg.Burst, "burst", 20, "rate-limit burst per API key [BURST]")
	fs.DurationVar(&cfg.WorkDelay, "work-delay", 200*time.Millisecond, "how long a generation runs [WORK_DELAY]")
	fs.DurationVar(&cfg.IdempotencyTTL, "idempotency-ttl", 24*time.Hour, "retention of idempotency results [IDEMPOTENCY_TTL]")
	fs.DurationVar(&cfg.LockTTL, "lock-ttl", 30*time.Second, "in-progress idempotency lock expiry [LOCK_TTL]")
	fs.Int64Var(&cfg.Credits, "credits", 1000, "starting credits of every demo tenant that starts with credits [CREDITS]")
	fs.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", 10*time.Second,
		"time to read a request's headers; 0: -read-timeout [READ_HEADER_TIMEOUT]")
	fs.DurationVar(&cfg.ReadTimeout, "read-timeout", 30*time.Second,
		"time to read a whole request, body included; a slower body is cut off with 400 invalid_request; 0: none [READ_TIMEOUT]")
	fs.DurationVar(&cfg.WriteTimeout, "write-timeout", 60*time.Second,
		"time from the end of a request's headers to the end of its response, handler included;\n"+
			"must exceed -read-timeout + -work-delay + 1s; 0: none [WRITE_TIMEOUT]")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 120*time.Second,
		"how long an idle keep-alive connection stays open; 0: -read-timeout [IDLE_TIMEOUT]")

	// Environment values become the flags' values before the command line is
	// parsed, so an explicit flag always wins.
	for name, env := range map[string]string{
		"rate": "RATE", "burst": "BURST", "work-delay": "WORK_DELAY",
		"idempotency-ttl": "IDEMPOTENCY_TTL", "lock-ttl": "LOCK_TTL", "credits": "CREDITS",
		"read-header-timeout": "READ_HEADER_TIMEOUT", "read-timeout": "READ_TIMEOUT",
		"write-timeout": "WRITE_TIMEOUT", "idle-timeout": "IDLE_TIMEOUT",
		"max-in-flight": "MAX_IN_FLIGHT", "limit-batch": "LIMIT_BATCH",
	} {
		if v := getenv(env); v != "" {
			if err := fs.Set(name, v); err != nil {
				return cfg, fmt.Errorf("%s=%q: %w", env, v, err)
			}
		}
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	switch *limitFail {
	case LimitFailOpen:
	case LimitFailClosed:
		cfg.RateLimitFailClosed = true
	default:
		return cfg, fmt.Errorf("-limit-fail must be open or closed, got %q", *limitFail)
	}
	return cfg, cfg.check()
}

// check reports the first value out of range, naming its flag.
func (cfg Config) check() error {
	switch {
	case cfg.Rate <= 0:
		return fmt.Errorf("-rate must be above 0, got %v", cfg.Rate)
	case cfg.Burst < 1:
		return fmt.Errorf("-burst must be at least 1, got %d", cfg.Burst)
	case cfg.WorkDelay < 0:
		return fmt.Errorf("-work-delay must not be negative, got %v", cfg.WorkDelay)
	case cfg.IdempotencyTTL <= 0 || cfg.LockTTL <= 0:
		return fmt.Errorf("-idempotency-ttl and -lock-ttl must be above 0")
	case cfg.Credits < 0:
		return fmt.Errorf("-credits must not be negative, got %d", cfg.Credits)
	case cfg.MaxInFlight < 0:
		return fmt.Errorf("-max-in-flight must not be negative, got %d", cfg.MaxInFlight)
	case cfg.LimitBatch < 0:
		return fmt.Errorf("-limit-batch must not be negative, got %d", cfg.LimitBatch)
	}
	if fws := Frameworks(); cfg.Framework != "" && !slices.Contains(fws, cfg.Framework) {
		return fmt.Errorf("-framework must be one of %s, got %q", strings.Join(fws, ", "), cfg.Framework)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"-read-header-timeout", cfg.ReadHeaderTimeout}, {"-read-timeout", cfg.ReadTimeout},
		{"-write-timeout", cfg.WriteTimeout}, {"-idle-timeout", cfg.IdleTimeout},
	} {
		if d.v < 0 {
			return fmt.Errorf("%s must not be negative, got %v", d.name, d.v)
		}
	}
	// net/http's WriteTimeout runs from the end of the headers and also
	// bounds the handler: a write timeout shorter than the slowest accepted
	// request would cut off answers the server has already worked for.
	if need := cfg.ReadTimeout + cfg.WorkDelay + writeMargin; cfg.WriteTimeout > 0 && cfg.WriteTimeout <= need {
		return fmt.Errorf("-write-timeout (%v) must exceed -read-timeout + -work-delay + %v (%v)",
			cfg.WriteTimeout, writeMargin, need)
	}
	return nil
}

func envString(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}
