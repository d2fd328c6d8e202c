package redisstore_test

import (
	"os"
	"strings"
	"testing"

	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/redisstore"
	"github.com/clipia/apiguard/idempotency/storetest"
	"github.com/clipia/apiguard/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// EnvClusterAddrs names a comma-separated list of Redis Cluster nodes. When
// set, the suite also runs on a ClusterClient.
const envClusterAddrs = "APIGUARD_REDIS_CLUSTER_ADDRS"

func TestRedisStoreSuiteCluster(t *testing.T) {
	addrs := os.Getenv(envClusterAddrs)
	if addrs == "" {
		t.Skip(envClusterAddrs + " not set")
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addrs, ",")})
	t.Cleanup(func() { _ = rdb.Close() })
	storetest.Run(t, func(t *testing.T) idempotency.Store {
		s, err := redisstore.New(rdb, redisstore.Config{Prefix: redistest.Prefix(t)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
