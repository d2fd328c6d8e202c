package redisstore_test

import (
	"encoding/json"
	"log"
	"net/http"

	"github.com/clipia/apiguard/idempotency"
	idemredis "github.com/clipia/apiguard/idempotency/redisstore"
	"github.com/clipia/apiguard/middleware/nethttp"
	"github.com/redis/go-redis/v9"
)

// Idempotency records shared by every server instance on one Redis: a
// duplicate that reaches another server is replayed from Redis, and its
// handler does not run again. The guard runs on every front door (here
// net/http; echo4.Use, echo5.Use and gin1.Use take it alike). It needs a
// running Redis, so it is compiled but not run.
func Example() {
	// ContextTimeoutEnabled lets Config.Timeout bound each call on the socket.
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
	defer rdb.Close()

	store, err := idemredis.New(rdb, idemredis.Config{Prefix: "myapp:idem:"})
	if err != nil {
		log.Fatal(err)
	}
	idem, err := idempotency.New(idempotency.Config{Store: store})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /v1/orders", nethttp.Use(idem)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{"id": "ord_1"})
	})))
	log.Fatal(http.ListenAndServe(":8080", nethttp.Install(mux, nethttp.Config{})))
}

// On Redis Cluster each record is one hash under one key, so nothing
// changes but the client. Compiled, not run.
func ExampleNew_cluster() {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 []string{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"},
		ContextTimeoutEnabled: true,
	})
	defer rdb.Close()
	store, err := idemredis.New(rdb, idemredis.Config{})
	if err != nil {
		log.Fatal(err)
	}
	_ = idempotency.Config{Store: store}
}
