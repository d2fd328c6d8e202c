package redisstore_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/clipia/apiguard/internal/redistest"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/redisstore"
	"github.com/clipia/apiguard/ratelimit/storetest"
	"github.com/redis/go-redis/v9"
)

// EnvClusterAddrs names a comma-separated list of Redis Cluster seed nodes.
// When it is set, the behaviour suite also runs through a ClusterClient; a
// later harness starts a 3-node cluster for it.
const envClusterAddrs = "APIGUARD_REDIS_CLUSTER_ADDRS"

func TestRedisClusterBehaviour(t *testing.T) {
	addrs := os.Getenv(envClusterAddrs)
	if addrs == "" {
		t.Skipf("%s not set: no Redis Cluster to run against", envClusterAddrs)
	}
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addrs, ",")})
	t.Cleanup(func() { _ = client.Close() })
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
