package redisstore_test

import (
	"testing"
	"time"

	"github.com/clipia/apiguard/internal/ratelimittest"
	"github.com/clipia/apiguard/internal/redistest"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/redisstore"
	"github.com/clipia/apiguard/ratelimit/storetest"
	"github.com/redis/go-redis/v9"
)

// storeTimeout is the store Timeout of the tests that do not test it: the
// default (500ms) is a stall a loaded machine can reach between the test
// and its Redis server, and the limiter then fails open.
const storeTimeout = 5 * time.Second

func TestRedisStoreBehaviour(t *testing.T) {
	runBehaviour(t, redistest.Client(t))
}

// runBehaviour runs the shared store suite through client in every mode.
func runBehaviour(t *testing.T, client redis.UniversalClient) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, now func() time.Time) ratelimit.Store {
				cfg := m.cfg
				cfg.Now = now
				cfg.Prefix = redistest.Prefix(t)
				cfg.Timeout = storeTimeout
				s, err := redisstore.New(client, cfg)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				return s
			})
		})
	}
}

// Plans, shadow policies, costs added after the response and IPv6 keys
// against a real Redis, in every batching mode, through every front door.
func TestRedisStoreThroughLimiter(t *testing.T) {
	client := redistest.Client(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ratelimittest.RunStore(t, func(t *testing.T, now func() time.Time) ratelimit.Store {
				cfg := m.cfg
				cfg.Now = now
				cfg.Prefix = redistest.Prefix(t)
				cfg.Timeout = storeTimeout
				s, err := redisstore.New(client, cfg)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				return s
			})
		})
	}
}
