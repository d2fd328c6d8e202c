package app

import (
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clipia/apiguard/internal/redistest"
)

func TestParseConfig(t *testing.T) {
	defaults := Config{
		Addr: ":8080", Rate: 10, Burst: 20, WorkDelay: 200 * time.Millisecond,
		IdempotencyTTL: 24 * time.Hour, LockTTL: 30 * time.Second, Credits: 1000, Framework: FrameworkEcho4,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second,
	}
	with := func(f func(*Config)) Config { c := defaults; f(&c); return c }
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    Config
		wantErr string // "" means no error; else a substring of it
	}{
		{name: "defaults", want: defaults},
		{name: "every flag",
			args: []string{"-addr", "127.0.0.1:9000", "-redis", "redis://127.0.0.1:6379/0", "-rate", "2.5", "-burst", "7",
				"-work-delay", "1s", "-idempotency-ttl", "1h", "-lock-ttl", "5s", "-credits", "12",
				"-read-header-timeout", "2s", "-read-timeout", "3s", "-write-timeout", "6s", "-idle-timeout", "7s"},
			want: Config{Addr: "127.0.0.1:9000", RedisURL: "redis://127.0.0.1:6379/0", Rate: 2.5, Burst: 7,
				WorkDelay: time.Second, IdempotencyTTL: time.Hour, LockTTL: 5 * time.Second, Credits: 12, Framework: FrameworkEcho4,
				ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: 6 * time.Second, IdleTimeout: 7 * time.Second}},
		{name: "every environment variable",
			env: map[string]string{"ADDR": ":9001", "REDIS_URL": "redis://r:6379/1", "RATE": "3", "BURST": "4",
				"WORK_DELAY": "0s", "IDEMPOTENCY_TTL": "2h", "LOCK_TTL": "10s", "CREDITS": "0",
				"READ_HEADER_TIMEOUT": "1s", "READ_TIMEOUT": "2s", "WRITE_TIMEOUT": "4s", "IDLE_TIMEOUT": "7s"},
			want: Config{Addr: ":9001", RedisURL: "redis://r:6379/1", Rate: 3, Burst: 4,
				IdempotencyTTL: 2 * time.Hour, LockTTL: 10 * time.Second, Credits: 0, Framework: FrameworkEcho4,
				ReadHeaderTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 4 * time.Second, IdleTimeout: 7 * time.Second}},
		{name: "flag wins over environment",
			args: []string{"-addr", ":1", "-rate", "5", "-credits", "9", "-redis", ""},
			env:  map[string]string{"ADDR": ":2", "RATE": "6", "CREDITS": "8", "REDIS_URL": "redis://x:1/0"},
			want: with(func(c *Config) { c.Addr, c.Rate, c.Credits = ":1", 5, 9 })},
		{name: "empty environment variable is unset", env: map[string]string{"ADDR": "", "RATE": ""}, want: defaults},
		{name: "fractional rate", args: []string{"-rate", "0.5"}, want: with(func(c *Config) { c.Rate = 0.5 })},
		{name: "work delay 0", args: []string{"-work-delay", "0"}, want: with(func(c *Config) { c.WorkDelay = 0 })},
		{name: "a 2.5s work delay fits the default timeouts", args: []string{"-work-delay", "2.5s"},
			want: with(func(c *Config) { c.WorkDelay = 2500 * time.Millisecond })},
		{name: "timeouts 0 are off", args: []string{"-read-header-timeout", "0", "-read-timeout", "0", "-write-timeout", "0", "-idle-timeout", "0"},
			want: with(func(c *Config) { c.ReadHeaderTimeout, c.ReadTimeout, c.WriteTimeout, c.IdleTimeout = 0, 0, 0, 0 })},
		{name: "write timeout without a read timeout", args: []string{"-read-timeout", "0", "-write-timeout", "2s", "-work-delay", "900ms"},
			want: with(func(c *Config) { c.ReadTimeout, c.WriteTimeout, c.WorkDelay = 0, 2*time.Second, 900*time.Millisecond })},

		{name: "rate 0", args: []string{"-rate", "0"}, wantErr: "-rate must be above 0"},
		{name: "negative rate", args: []string{"-rate", "-1"}, wantErr: "-rate must be above 0"},
		{name: "burst 0", args: []string{"-burst", "0"}, wantErr: "-burst must be at least 1"},
		{name: "negative work delay", args: []string{"-work-delay", "-1s"}, wantErr: "-work-delay must not be negative"},
		{name: "idempotency ttl 0", args: []string{"-idempotency-ttl", "0s"}, wantErr: "-idempotency-ttl"},
		{name: "lock ttl 0", args: []string{"-lock-ttl", "0s"}, wantErr: "-lock-ttl"},
		{name: "framework and its neighbours", args: []string{"-framework", "nethttp", "-max-in-flight", "3", "-postgres", "postgres://u@127.0.0.1:5432/c"},
			want: with(func(c *Config) {
				c.Framework, c.MaxInFlight, c.PostgresURL = FrameworkNetHTTP, 3, "postgres://u@127.0.0.1:5432/c"
			})},
		{name: "framework from the environment", env: map[string]string{"FRAMEWORK": "echo5", "MAX_IN_FLIGHT": "2", "DATABASE_URL": "postgres://x"},
			want: with(func(c *Config) { c.Framework, c.MaxInFlight, c.PostgresURL = FrameworkEcho5, 2, "postgres://x" })},
		{name: "framework gin", args: []string{"-framework", "gin"}, want: with(func(c *Config) { c.Framework = FrameworkGin })},
		{name: "framework chi", args: []string{"-framework", "chi"}, want: with(func(c *Config) { c.Framework = FrameworkChi })},
		{name: "FRAMEWORK chi", env: map[string]string{"FRAMEWORK": "chi"}, want: with(func(c *Config) { c.Framework = FrameworkChi })},
		{name: "framework flag wins over FRAMEWORK", args: []string{"-framework", "gin"}, env: map[string]string{"FRAMEWORK": "chi"},
			want: with(func(c *Config) { c.Framework = FrameworkGin })},
		{name: "unknown framework", args: []string{"-framework", "fiber"},
			wantErr: `-framework must be one of echo4, echo5, nethttp, chi, gin, got "fiber"`},
		{name: "framework spelt another way", args: []string{"-framework", "net/http"}, wantErr: `got "net/http"`},
		{name: "limit fail closed", args: []string{"-limit-fail", "closed"}, want: with(func(c *Config) { c.RateLimitFailClosed = true })},
		{name: "limit fail open", args: []string{"-limit-fail", "open"}, want: defaults},
		{name: "LIMIT_FAIL closed", env: map[string]string{"LIMIT_FAIL": "closed"}, want: with(func(c *Config) { c.RateLimitFailClosed = true })},
		{name: "-limit-fail wins over LIMIT_FAIL", args: []string{"-limit-fail", "open"}, env: map[string]string{"LIMIT_FAIL": "closed"}, want: defaults},
		{name: "unknown limit fail", args: []string{"-limit-fail", "maybe"}, wantErr: `-limit-fail must be open or closed, got "maybe"`},
		{name: "negative max in flight", args: []string{"-max-in-flight", "-1"}, wantErr: "-max-in-flight must not be negative"},
		{name: "limit batch", args: []string{"-limit-batch", "20"}, want: with(func(c *Config) { c.LimitBatch = 20 })},
		{name: "LIMIT_BATCH", env: map[string]string{"LIMIT_BATCH": "5"}, want: with(func(c *Config) { c.LimitBatch = 5 })},
		{name: "-limit-batch wins over LIMIT_BATCH", args: []string{"-limit-batch", "0"}, env: map[string]string{"LIMIT_BATCH": "5"}, want: defaults},
		{name: "negative limit batch", args: []string{"-limit-batch", "-1"}, wantErr: "-limit-batch must not be negative"},
		{name: "bad LIMIT_BATCH", env: map[string]string{"LIMIT_BATCH": "many"}, wantErr: `LIMIT_BATCH="many"`},
		{name: "negative credits", args: []string{"-credits", "-1"}, wantErr: "-credits must not be negative"},
		{name: "negative read header timeout", args: []string{"-read-header-timeout", "-1s"}, wantErr: "-read-header-timeout must not be negative"},
		{name: "negative read timeout", args: []string{"-read-timeout", "-1s"}, wantErr: "-read-timeout must not be negative"},
		{name: "negative write timeout", args: []string{"-write-timeout", "-1s"}, wantErr: "-write-timeout must not be negative"},
		{name: "negative idle timeout", args: []string{"-idle-timeout", "-1s"}, wantErr: "-idle-timeout must not be negative"},
		{name: "write timeout shorter than the work", args: []string{"-write-timeout", "2s", "-work-delay", "2.5s"},
			wantErr: "-write-timeout (2s) must exceed -read-timeout + -work-delay + 1s (33.5s)"},
		{name: "write timeout without room for a slow body", args: []string{"-read-timeout", "60s"},
			wantErr: "-write-timeout (1m0s) must exceed -read-timeout + -work-delay + 1s (1m1.2s)"},
		{name: "write timeout without a margin", args: []string{"-read-timeout", "0", "-write-timeout", "1s", "-work-delay", "500ms"},
			wantErr: "-write-timeout (1s) must exceed -read-timeout + -work-delay + 1s (1.5s)"},
		{name: "WRITE_TIMEOUT too short", env: map[string]string{"WRITE_TIMEOUT": "10s"}, wantErr: "-write-timeout (10s) must exceed"},
		{name: "IDLE_TIMEOUT without unit", env: map[string]string{"IDLE_TIMEOUT": "30"}, wantErr: `IDLE_TIMEOUT="30"`},
		{name: "rate not a number", args: []string{"-rate", "fast"}, wantErr: "invalid value"},
		{name: "duration without unit", args: []string{"-work-delay", "200"}, wantErr: "invalid value"},
		{name: "unknown flag", args: []string{"-nope"}, wantErr: "not defined"},
		{name: "RATE not a number", env: map[string]string{"RATE": "fast"}, wantErr: `RATE="fast"`},
		{name: "BURST fractional", env: map[string]string{"BURST": "1.5"}, wantErr: `BURST="1.5"`},
		{name: "CREDITS negative", env: map[string]string{"CREDITS": "-5"}, wantErr: "-credits must not be negative"},
		{name: "LOCK_TTL without unit", env: map[string]string{"LOCK_TTL": "30"}, wantErr: `LOCK_TTL="30"`},
		{name: "help", args: []string{"-h"}, wantErr: flag.ErrHelp.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseConfig(tt.args, env(tt.env), io.Discard)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("got %+v and no error, want an error containing %q", got, tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q, want it to contain %q", err, tt.wantErr)
			case tt.wantErr == "" && !reflect.DeepEqual(got, tt.want):
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestRunFromEnvironment checks that Run takes its address from ADDR and its
// store from REDIS_URL when no flag is given.
func TestRunFromEnvironment(t *testing.T) {
	rs := redistest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, nil, env(map[string]string{"ADDR": "127.0.0.1:0", "REDIS_URL": "redis://" + rs.Addr + "/0", "CREDITS": "33"}),
			logs, func(a string) { addrc <- a })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		cancel()
		t.Fatalf("run: %v\n%s", err, logs)
	}
	if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
		t.Errorf("listening on %s, want 127.0.0.1 from ADDR", addr)
	}
	if got := balanceOf(t, "http://"+addr, "sk_test_full"); got != 33 {
		t.Errorf("balance %d, want 33 from CREDITS", got)
	}
	if r := do(t, "http://"+addr, post("sk_test_full", okBody, "env-key")); r.status != http.StatusCreated {
		t.Fatalf("generation: %d %s", r.status, r.body)
	}
	if n, err := rs.Client(t).Keys(ctx, "clipia:*").Result(); err != nil || len(n) == 0 {
		t.Errorf("no clipia:* keys in the Redis of REDIS_URL (%v, %v): the store is not Redis", n, err)
	}
	client.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run returned %v, want nil", err)
	}
	var store string
	for _, l := range logs.lines(t) {
		if l.str("msg") == "listening" {
			store = l.str("store")
		}
	}
	if store != "redis" {
		t.Errorf(`"listening" log line store = %q, want "redis"`, store)
	}
}

// TestRunFailsOnBadStart checks that Run reports, instead of serving, a bad
// flag, a bad Redis URL and an address in use.
func TestRunFailsOnBadStart(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"bad flag", []string{"-burst", "0"}, nil, "-burst"},
		{"bad REDIS_URL", []string{"-addr", "127.0.0.1:0"}, map[string]string{"REDIS_URL": "http://not-redis"}, "-redis"},
		{"address in use", []string{"-addr", busy.Addr().String()}, nil, "address already in use"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := Run(ctx, tt.args, env(tt.env), io.Discard, func(string) { t.Error("run became ready") })
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("run error %v, want one containing %q", err, tt.wantErr)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("run waited for the deadline instead of failing")
			}
		})
	}
}
