package redisstore_test

import (
	"testing"
	"time"

	"github.com/clipia/apiguard/internal/redistest"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/redisstore"
	"github.com/clipia/apiguard/ratelimit/storetest"
)

func TestRedisStoreBehaviour(t *testing.T) {
	client := redistest.Client(t)
	for _, tc := range []struct {
		name string
		cfg  redisstore.Config
	}{
		{"batched", redisstore.Config{}},
		{"unbatched", redisstore.Config{MaxBatch: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, now func() time.Time) ratelimit.Store {
				cfg := tc.cfg
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
