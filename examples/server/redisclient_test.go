package main

import (
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
