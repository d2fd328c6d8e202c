package redisstore_test

import (
	"testing"
	"time"

	"github.com/clipia/apiguard/internal/redistest"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/redisstore"
	"github.com/clipia/apiguard/ratelimit/storetest"
	"github.com/redis/go-redis/v9"
)

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
