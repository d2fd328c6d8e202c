package redisstore_test

import (
	"log"
	"net/http"

	"github.com/clipia/apiguard/middleware/nethttp"
	"github.com/clipia/apiguard/ratelimit"
	rlredis "github.com/clipia/apiguard/ratelimit/redisstore"
	"github.com/redis/go-redis/v9"
)

// Rate limits shared by every server instance on one Redis: 10 requests a
// second per caller (bursts of 20) and 1000 a day, decided in one script
// per request. The limiter is a guard.Guard: it runs on every front door
// (here net/http; echo4.Use, echo5.Use and gin1.Use take it alike).
// It needs a running Redis, so it is compiled but not run.
func Example() {
	// ContextTimeoutEnabled lets Config.Timeout bound each call on the socket.
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
	defer rdb.Close()

	store, err := rlredis.New(rdb, rlredis.Config{Prefix: "myapp:ratelimit:"})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close() // stops the batching workers; the client stays open

	limit, err := ratelimit.New(ratelimit.Config{
		Store:    store,
		Policies: []ratelimit.Policy{ratelimit.PerSecond("burst", 10, 20), ratelimit.PerDay("daily", 1000, 1000)},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/models", nethttp.Use(limit)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"data":[]}`))
	})))
	log.Fatal(http.ListenAndServe(":8080", nethttp.Install(mux, nethttp.Config{})))
}

// A Redis Cluster is a ClusterClient; nothing else changes: one caller's
// buckets share a hash tag, so a request with several policies is still
// one atomic script. Compiled, not run.
func ExampleNew_cluster() {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 []string{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"},
		ContextTimeoutEnabled: true,
	})
	defer rdb.Close()
	store, err := rlredis.New(rdb, rlredis.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	_ = ratelimit.Config{Store: store, Policies: []ratelimit.Policy{ratelimit.PerSecond("default", 10, 20)}}
}

// At most three generations in flight per tenant across every server
// instance, with slots in Redis that free themselves one lease after a
// process dies. Compiled, not run.
func ExampleNewConcurrency() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
	defer rdb.Close()
	slots, err := rlredis.NewConcurrency(rdb, rlredis.ConcurrencyConfig{Prefix: "myapp:inflight:"})
	if err != nil {
		log.Fatal(err)
	}
	inFlight, err := ratelimit.NewConcurrency(ratelimit.ConcurrencyConfig{Limit: 3, Name: "generations", Store: slots})
	if err != nil {
		log.Fatal(err)
	}
	_ = nethttp.Use(inFlight) // on the route: mux.Handle("POST /v1/generations", nethttp.Use(inFlight)(handler))
}
