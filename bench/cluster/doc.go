// Package cluster proves apiguard's Redis stores on Redis Cluster: it starts
// a three-master cluster on loopback (redis-server --cluster-enabled yes,
// joined by redis-cli --cluster create), runs both stores' behaviour suites
// through a go-redis ClusterClient, and runs duplicate requests through two
// apiguard stacks sharing the cluster.
package cluster
