package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/redisstore"
	"github.com/clipia/apiguard/idempotency/storetest"
	"github.com/clipia/apiguard/internal/redistest"
	"github.com/redis/go-redis/v9"
)

func TestRedisStoreSuite(t *testing.T) {
	rdb := redistest.Client(t)
	storetest.Run(t, func(t *testing.T) idempotency.Store {
		s, err := redisstore.New(rdb, redisstore.Config{Prefix: redistest.Prefix(t)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestRedisStoreSuiteUniversalClient(t *testing.T) {
	// The constructor takes redis.UniversalClient: one address gives a
	// plain client, as an app configured for any topology would.
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{redistest.Addr(t)}})
	t.Cleanup(func() { _ = rdb.Close() })
	storetest.Run(t, func(t *testing.T) idempotency.Store {
		s, err := redisstore.New(rdb, redisstore.Config{Prefix: redistest.Prefix(t)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestNewRejectsNilClient(t *testing.T) {
	if _, err := redisstore.New(nil, redisstore.Config{}); err == nil {
		t.Fatal("New(nil): got nil error")
	}
}

func TestRecordLayout(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t)
	s, _ := redisstore.New(rdb, redisstore.Config{Prefix: prefix})
	tests := []struct {
		name    string
		step    func(t *testing.T)
		wantTTL time.Duration // upper bound; the key's TTL must be in (0, wantTTL]
	}{
		{"claim sets the lease as TTL", func(t *testing.T) {
			if _, err := s.Claim(ctx, "k", "fp", 10*time.Second); err != nil {
				t.Fatal(err)
			}
		}, 10 * time.Second},
		{"commit sets the retention as TTL", func(t *testing.T) {
			rec, _, _ := s.Get(ctx, "k")
			if err := s.Commit(ctx, "k", rec.Token, idempotency.Response{Status: 200}, time.Hour); err != nil {
				t.Fatal(err)
			}
		}, time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.step(t)
			ttl, err := rdb.PTTL(ctx, prefix+"k").Result()
			if err != nil {
				t.Fatal(err)
			}
			if ttl <= 0 || ttl > tc.wantTTL || ttl < tc.wantTTL-5*time.Second {
				t.Errorf("TTL: got %v, want about %v", ttl, tc.wantTTL)
			}
			if n, _ := rdb.Exists(ctx, prefix+"k").Result(); n != 1 {
				t.Errorf("key %q: got %d keys, want 1", prefix+"k", n)
			}
		})
	}
}

func TestDefaultPrefix(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	s, _ := redisstore.New(rdb, redisstore.Config{})
	key := redistest.Prefix(t) + "k"
	r, err := s.Claim(ctx, key, "fp", time.Minute)
	if err != nil || !r.Claimed {
		t.Fatalf("Claim: %+v %v", r, err)
	}
	t.Cleanup(func() { _ = s.Release(ctx, key, r.Token) })
	if n, _ := rdb.Exists(ctx, redisstore.DefaultPrefix+key).Result(); n != 1 {
		t.Fatalf("key under DefaultPrefix: got %d, want 1", n)
	}
}

func TestScriptCacheFlushed(t *testing.T) {
	// After SCRIPT FLUSH the first EVALSHA fails with NOSCRIPT and go-redis
	// falls back to EVAL.
	ctx := context.Background()
	srv := redistest.Start(t)
	// Not srv.Client, whose short timeouts are for servers a test stops.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	s, _ := redisstore.New(rdb, redisstore.Config{Prefix: redistest.Prefix(t)})
	if _, err := s.Claim(ctx, "a", "fp", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	r, err := s.Claim(ctx, "a", "fp", time.Minute)
	if err != nil || r.Claimed || r.Record.State != idempotency.StateInProgress {
		t.Fatalf("Claim after SCRIPT FLUSH: got %+v, %v; want the in-progress record", r, err)
	}
}
