package main

import (
	"flag"
	"fmt"
	"io"
	"time"
)

// config is the server's configuration, from flags, each of which can also
// come from an environment variable (the flag wins).
type config struct {
	addr           string
	redisURL       string
	rate           float64
	burst          int
	workDelay      time.Duration
	idempotencyTTL time.Duration
	lockTTL        time.Duration
	credits        int64

	// The http.Server's timeouts (see serverTimeouts in main.go). Zero
	// means none, as in net/http.
	readHeaderTimeout time.Duration
	readTimeout       time.Duration
	writeTimeout      time.Duration
	idleTimeout       time.Duration
}

// writeMargin is how much longer than -read-timeout plus -work-delay the
// write timeout must be: the slowest request the server accepts reads its
// body for nearly -read-timeout, works for -work-delay, and must still be
// able to write its answer.
const writeMargin = time.Second

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", envString(getenv, "ADDR", ":8080"), "listen address [ADDR]")
	fs.StringVar(&cfg.redisURL, "redis", envString(getenv, "REDIS_URL", ""),
		"Redis URL, e.g. redis://127.0.0.1:6379/0: rate limits and idempotency keys live there; empty: in memory [REDIS_URL]")
	fs.Float64Var(&cfg.rate, "rate", 10, "requests per second per API key [RATE]")
	fs.IntVar(&cfg.burst, "burst", 20, "rate-limit burst per API key [BURST]")
	fs.DurationVar(&cfg.workDelay, "work-delay", 200*time.Millisecond, "how long a generation runs [WORK_DELAY]")
	fs.DurationVar(&cfg.idempotencyTTL, "idempotency-ttl", 24*time.Hour, "retention of idempotency results [IDEMPOTENCY_TTL]")
	fs.DurationVar(&cfg.lockTTL, "lock-ttl", 30*time.Second, "in-progress idempotency lock expiry [LOCK_TTL]")
	fs.Int64Var(&cfg.credits, "credits", 1000, "starting credits of every demo tenant that starts with credits [CREDITS]")
	fs.DurationVar(&cfg.readHeaderTimeout, "read-header-timeout", 10*time.Second,
		"time to read a request's headers; 0: -read-timeout [READ_HEADER_TIMEOUT]")
	fs.DurationVar(&cfg.readTimeout, "read-timeout", 30*time.Second,
		"time to read a whole request, body included; a slower body is cut off with 400 invalid_request; 0: none [READ_TIMEOUT]")
	fs.DurationVar(&cfg.writeTimeout, "write-timeout", 60*time.Second,
		"time from the end of a request's headers to the end of its response, handler included;\n"+
			"must exceed -read-timeout + -work-delay + 1s; 0: none [WRITE_TIMEOUT]")
	fs.DurationVar(&cfg.idleTimeout, "idle-timeout", 120*time.Second,
		"how long an idle keep-alive connection stays open; 0: -read-timeout [IDLE_TIMEOUT]")

	// Environment values become the flags' values before the command line is
	// parsed, so an explicit flag always wins.
	for name, env := range map[string]string{
		"rate": "RATE", "burst": "BURST", "work-delay": "WORK_DELAY",
		"idempotency-ttl": "IDEMPOTENCY_TTL", "lock-ttl": "LOCK_TTL", "credits": "CREDITS",
		"read-header-timeout": "READ_HEADER_TIMEOUT", "read-timeout": "READ_TIMEOUT",
		"write-timeout": "WRITE_TIMEOUT", "idle-timeout": "IDLE_TIMEOUT",
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
	switch {
	case cfg.rate <= 0:
		return cfg, fmt.Errorf("-rate must be above 0, got %v", cfg.rate)
	case cfg.burst < 1:
		return cfg, fmt.Errorf("-burst must be at least 1, got %d", cfg.burst)
	case cfg.workDelay < 0:
		return cfg, fmt.Errorf("-work-delay must not be negative, got %v", cfg.workDelay)
	case cfg.idempotencyTTL <= 0 || cfg.lockTTL <= 0:
		return cfg, fmt.Errorf("-idempotency-ttl and -lock-ttl must be above 0")
	case cfg.credits < 0:
		return cfg, fmt.Errorf("-credits must not be negative, got %d", cfg.credits)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"-read-header-timeout", cfg.readHeaderTimeout}, {"-read-timeout", cfg.readTimeout},
		{"-write-timeout", cfg.writeTimeout}, {"-idle-timeout", cfg.idleTimeout},
	} {
		if d.v < 0 {
			return cfg, fmt.Errorf("%s must not be negative, got %v", d.name, d.v)
		}
	}
	// net/http's WriteTimeout runs from the end of the headers and also
	// bounds the handler: a write timeout shorter than the slowest accepted
	// request would cut off answers the server has already worked for.
	if need := cfg.readTimeout + cfg.workDelay + writeMargin; cfg.writeTimeout > 0 && cfg.writeTimeout <= need {
		return cfg, fmt.Errorf("-write-timeout (%v) must exceed -read-timeout + -work-delay + %v (%v)",
			cfg.writeTimeout, writeMargin, need)
	}
	return cfg, nil
}

func envString(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}
