package app

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestNewRedisClient(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		cluster bool
		wantErr bool
	}{
		{"one node", "redis://127.0.0.1:6379/0", false, false},
		{"cluster by addr parameters", "redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002", true, false},
		{"not a redis URL", "http://127.0.0.1:6379", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newRedisClient(tt.url)
			if tt.wantErr {
				if err == nil {
					c.Close()
					t.Fatalf("newRedisClient(%q): got no error, want one", tt.url)
				}
				return
			}
			if err != nil {
				t.Fatalf("newRedisClient(%q): %v", tt.url, err)
			}
			defer c.Close()
			switch cc := c.(type) {
			case *redis.ClusterClient:
				if !tt.cluster {
					t.Fatalf("got a cluster client, want one node")
				}
				if got := len(cc.Options().Addrs); got != 3 {
					t.Errorf("cluster seed addresses: got %d, want 3", got)
				}
				if !cc.Options().ContextTimeoutEnabled {
					t.Error("ContextTimeoutEnabled is off")
				}
			case *redis.Client:
				if tt.cluster {
					t.Fatalf("got a single-node client, want a cluster client")
				}
				if !cc.Options().ContextTimeoutEnabled {
					t.Error("ContextTimeoutEnabled is off")
				}
			default:
				t.Fatalf("got %T", c)
			}
		})
	}
}

// TestRedisLogRedaction: go-redis lines reach the log without the Redis
// URL's password or any node address, and bounded in length.
func TestRedisLogRedaction(t *testing.T) {
	tests := []struct {
		name, url, line, want string
	}{
		{"dial error", "redis://127.0.0.1:6390/0",
			"redis: connection pool: failed to dial after 5 attempts: dial tcp 127.0.0.1:6390: connect: connection refused",
			"connection pool: failed to dial after 5 attempts: dial tcp [address]: connect: connection refused"},
		{"password", "redis://app:pw-1234@10.0.0.7:6379/0", "auth failed for pw-1234 at 10.0.0.7",
			"auth failed for [redacted] at [address]"},
		{"domain name", "redis://cache.internal.example:6379/0", "dial tcp: lookup cache.internal.example: no such host",
			"dial tcp: lookup [address]: no such host"},
		{"a one-word host stays a word", "redis://redis:6379/0", "redis: dial tcp redis:6379: i/o timeout",
			"dial tcp [address]: i/o timeout"},
		{"cluster nodes", "redis://10.0.0.1:7000?addr=10.0.0.2:7001", "MOVED 42 10.0.0.3:7002 via 10.0.0.2:7001",
			"MOVED 42 [address] via [address]"},
		{"IPv6", "redis://[::1]:6379/0", "dial tcp [::1]:6379: connect: connection refused",
			"dial tcp [address]: connect: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := &redisLogger{logger: slog.New(slog.NewJSONHandler(&buf, nil)), redact: newRedactor(tt.url)}
			l.Printf(context.Background(), "%s", tt.line)
			var got struct{ Level, Msg, Detail string }
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("log %q: %v", buf.String(), err)
			}
			if got.Level != "WARN" || got.Msg != "redis client" || got.Detail != tt.want {
				t.Errorf("got %+v, want level WARN, msg \"redis client\", detail %q", got, tt.want)
			}
		})
	}
	t.Run("bounded", func(t *testing.T) {
		var buf bytes.Buffer
		l := &redisLogger{logger: slog.New(slog.NewJSONHandler(&buf, nil)), redact: newRedactor("redis://h:1")}
		l.Printf(context.Background(), "%s", strings.Repeat("x", 10_000))
		if buf.Len() > 1000 {
			t.Errorf("a 10 kB go-redis line logged as %d bytes, want it bounded", buf.Len())
		}
	})
}
