package redisstore_test

import (
	"os"
	"strings"
	"testing"

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
	runBehaviour(t, client)
}
