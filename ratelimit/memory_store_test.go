package ratelimit_test

import (
	"testing"
	"time"

	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/storetest"
)

func TestMemoryStoreBehaviour(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ratelimit.MemoryConfig
	}{
		{"default", ratelimit.MemoryConfig{}},
		{"one_shard_no_sweeper", ratelimit.MemoryConfig{Shards: 1, SweepInterval: -1}},
		{"bounded", ratelimit.MemoryConfig{MaxKeys: 1 << 16}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, now func() time.Time) ratelimit.Store {
				cfg := tc.cfg
				cfg.Now = now
				s := ratelimit.NewMemoryStore(cfg)
				t.Cleanup(func() { _ = s.Close() })
				return s
			})
		})
	}
}
