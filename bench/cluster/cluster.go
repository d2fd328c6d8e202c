package cluster

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clipia/apiguard/bench/load"
)

// Cluster is a Redis Cluster of three masters, no replicas, on loopback.
type Cluster struct {
	Nodes []*load.Redis
}

// Addrs are the nodes' host:port.
func (c *Cluster) Addrs() []string {
	var a []string
	for _, n := range c.Nodes {
		a = append(a, n.Addr())
	}
	return a
}

// Start starts three cluster-enabled redis-server processes (each in its
// own temporary directory, with its own nodes-PORT.conf), joins them with
// redis-cli --cluster create --cluster-replicas 0, and waits until every
// node reports cluster_state:ok. The nodes die with tb.
func Start(tb testing.TB) *Cluster {
	tb.Helper()
	cli := load.Tool(tb, "redis-cli")
	c := &Cluster{}
	for i := 0; i < 3; i++ {
		// The port is only known inside StartRedis; the config file name
		// only has to be unique per directory, and each node has its own.
		c.Nodes = append(c.Nodes, load.StartRedis(tb, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000"))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, addr := range c.Addrs() {
		for {
			info, err := load.Command(addr, "CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("node %s: cluster not ok: %v %s", addr, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// KeysPerNode returns DBSIZE of every node.
func (c *Cluster) KeysPerNode() ([]int, error) {
	var n []int
	for _, addr := range c.Addrs() {
		s, err := load.Command(addr, "DBSIZE")
		if err != nil {
			return nil, err
		}
		v, err := strconv.Atoi(strings.TrimPrefix(s, ":"))
		if err != nil {
			return nil, fmt.Errorf("DBSIZE %q: %v", s, err)
		}
		n = append(n, v)
	}
	return n, nil
}
