package cluster

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/bench/load"
	"github.com/clipia/apiguard/idempotency"
	idemredis "github.com/clipia/apiguard/idempotency/redisstore"
	idemtest "github.com/clipia/apiguard/idempotency/storetest"
	"github.com/clipia/apiguard/ratelimit"
	rlredis "github.com/clipia/apiguard/ratelimit/redisstore"
	rltest "github.com/clipia/apiguard/ratelimit/storetest"
	"github.com/redis/go-redis/v9"
)

var prefixSeq atomic.Int64

// prefix is a unique key prefix per store. It holds no "{": a hash tag in
// the prefix would pin every key to one slot and hide CROSSSLOT problems.
func prefix(kind string) string {
	return "bench:" + kind + ":" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.FormatInt(prefixSeq.Add(1), 10) + ":"
}

func clusterClient(t *testing.T, c *Cluster) *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { cc.Close() })
	return cc
}

// TestStoresOnCluster runs the behaviour suites of ratelimit/redisstore and
// idempotency/redisstore through a go-redis ClusterClient on a three-master
// cluster: no CROSSSLOT, no MOVED left unanswered, and the keys really
// spread over the masters.
func TestStoresOnCluster(t *testing.T) {
	c := Start(t)
	cc := clusterClient(t, c)
	t.Run("ratelimit/redisstore", func(t *testing.T) {
		rltest.Run(t, func(t *testing.T, now func() time.Time) ratelimit.Store {
			s, err := rlredis.New(cc, rlredis.Config{Prefix: prefix("rl"), Now: now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
	t.Run("idempotency/redisstore", func(t *testing.T) {
		idemtest.Run(t, func(t *testing.T) idempotency.Store {
			s, err := idemredis.New(cc, idemredis.Config{Prefix: prefix("idem")})
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
	n, err := c.KeysPerNode()
	if err != nil {
		t.Fatal(err)
	}
	used := 0
	for _, k := range n {
		if k > 0 {
			used++
		}
	}
	t.Logf("keys per master after the suites: %v", n)
	if used < 2 {
		t.Errorf("keys on %d of 3 masters (%v): the suites did not exercise more than one slot owner", used, n)
	}
}

// TestDuplicatesAcrossStacksOnCluster runs two apiguard stacks (the
// reference server's chain, in this process) that share one ClusterClient,
// and sends concurrent duplicates of many idempotency keys alternately to
// both: each key's handler runs exactly once, every other answer is a
// replay of that run or 409 request_in_progress. It counts handler runs
// exactly; TestReferenceServersShareCluster does the same with two server
// processes.
func TestDuplicatesAcrossStacksOnCluster(t *testing.T) {
	c := Start(t)
	keys, dups := 60, 6
	if load.Long() {
		keys, dups = 600, 10
	}
	var runs sync.Map
	var urls []string
	for i := 0; i < 2; i++ {
		cc := clusterClient(t, c) // each "server" its own client, as two processes would
		rs, err := rlredis.New(cc, rlredis.Config{Prefix: "dup:rl:"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rs.Close() })
		is, err := idemredis.New(cc, idemredis.Config{Prefix: "dup:idem:"})
		if err != nil {
			t.Fatal(err)
		}
		e, err := load.NewStack(load.StackConfig{Stack: load.Apiguard, RateStore: rs, IdemStore: is, Work: 20 * time.Millisecond,
			OnGenerate: func(p string) {
				n, _ := runs.LoadOrStore(p, new(atomic.Int32))
				n.(*atomic.Int32).Add(1)
			}})
		if err != nil {
			t.Fatal(err)
		}
		urls = append(urls, load.Serve(t, e))
	}
	client := load.NewHTTPClient(32, 10*time.Second)
	type answer struct {
		o   load.Outcome
		err error
	}
	answers := make([][]answer, keys)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 24)
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	for k := 0; k < keys; k++ {
		answers[k] = make([]answer, dups)
		for d := 0; d < dups; d++ {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				req := load.Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_full",
					Body:   load.GenBody("cluster "+run+" "+strconv.Itoa(k), 2),
					Header: map[string]string{"Idempotency-Key": "cluster-" + run + "-" + strconv.Itoa(k)}}
				o, _, err := load.Do(client, urls[(k+d)%2], req)
				answers[k][d] = answer{o, err}
			}()
		}
	}
	wg.Wait()
	// A second wave, after every run finished: one more duplicate per key,
	// to the stack that did not run it first... either stack replays. A
	// run answers its client after its first commit attempt, or after half
	// a second when the store is slow (a loaded machine): until the commit
	// lands, a duplicate is still told 409 request_in_progress, so that
	// answer is retried for a while.
	for k := 0; k < keys; k++ {
		req := load.Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_full",
			Body:   load.GenBody("cluster "+run+" "+strconv.Itoa(k), 2),
			Header: map[string]string{"Idempotency-Key": "cluster-" + run + "-" + strconv.Itoa(k)}}
		o, _, err := load.Do(client, urls[(k+1)%2], req)
		for deadline := time.Now().Add(10 * time.Second); err == nil && o.Key() == "409 request_in_progress" && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
			o, _, err = load.Do(client, urls[(k+1)%2], req)
		}
		answers[k] = append(answers[k], answer{o, err})
		if err == nil && !o.Replayed {
			t.Errorf("key %d, after the run: %s not replayed", k, o.Key())
		}
	}
	counts := map[string]int{}
	for k := 0; k < keys; k++ {
		var first []byte
		created := 0
		for _, a := range answers[k] {
			if a.err != nil {
				t.Fatalf("key %d: %v", k, a.err)
			}
			label := a.o.Key()
			if a.o.Replayed {
				label += " replayed"
			}
			counts[label]++
			switch {
			case a.o.Status == http.StatusCreated && !a.o.Replayed:
				created++
				first = a.o.Body
			case a.o.Status == http.StatusCreated, a.o.Key() == "409 request_in_progress":
			default:
				t.Errorf("key %d: %s, want 201, a replay or 409 request_in_progress", k, a.o.Key())
			}
		}
		if created != 1 {
			t.Errorf("key %d: %d runs answered, want exactly 1", k, created)
		}
		for _, a := range answers[k] {
			if a.o.Replayed && !bytes.Equal(a.o.Body, first) {
				t.Errorf("key %d: replay %s differs from the run %s", k, a.o.Body, first)
			}
		}
	}
	ran := 0
	runs.Range(func(p, v any) bool {
		ran++
		if n := v.(*atomic.Int32).Load(); n != 1 {
			t.Errorf("%v: the handler ran %d times across the two stacks, want 1", p, n)
		}
		return true
	})
	if ran != keys {
		t.Errorf("%d keys ran, want %d", ran, keys)
	}
	n, _ := c.KeysPerNode()
	t.Logf("%d keys × %d duplicates over 2 stacks: %v; records per master %v", keys, dups, counts, n)
	var parts []string
	for _, k := range []string{"201", "201 replayed", "409 request_in_progress"} {
		k := k
		parts = append(parts, k+": "+strconv.Itoa(counts[k]))
	}
	load.WriteResult(t, "cluster.md", "### Redis Cluster (3 masters, loopback)\n\n"+
		"Both store suites (ratelimit/storetest, idempotency/storetest) pass through a go-redis ClusterClient.\n"+
		strconv.Itoa(keys)+" idempotency keys × "+strconv.Itoa(dups)+" concurrent duplicates (then one more each once done), alternating between two apiguard stacks sharing the cluster: "+
		strings.Join(parts, ", ")+"; every key's handler ran exactly once. Records per master: "+strings.Trim(strings.Join(strings.Fields(strconvInts(n)), ", "), "[]")+".\n")
}

func strconvInts(n []int) string {
	var s []string
	for _, v := range n {
		s = append(s, strconv.Itoa(v))
	}
	return strings.Join(s, " ")
}

// TestReferenceServersShareCluster runs two reference server processes on
// one 3-master Redis Cluster (-redis with addr parameters makes the server
// use a ClusterClient) and sends concurrent duplicates of each key to both:
// every key runs once in all, whichever server took it, and the cluster
// follows MOVED for keys on the other masters, so nothing answers 503.
func TestReferenceServersShareCluster(t *testing.T) {
	c := Start(t)
	url := "redis://" + c.Nodes[0].Addr() + "?addr=" + c.Nodes[1].Addr() + "&addr=" + c.Nodes[2].Addr()
	flags := []string{"-redis", url, "-work-delay", "20ms", "-rate", "100000", "-burst", "100000", "-credits", "1000000"}
	servers := []*load.Server{load.StartServer(t, flags...), load.StartServer(t, flags...)}
	client := load.NewHTTPClient(16, 10*time.Second)
	const keys, dups = 30, 6
	var (
		mu     sync.Mutex
		counts = map[string]int{}
		wg     sync.WaitGroup
	)
	for k := 0; k < keys; k++ {
		for d := 0; d < dups; d++ {
			wg.Add(1)
			go func(k, d int) {
				defer wg.Done()
				req := load.Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_full", Body: load.GenBody("cluster", 1),
					Header: map[string]string{"Idempotency-Key": "both-" + strconv.Itoa(k)}}
				o, _, err := load.Do(client, servers[d%2].URL, req)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				counts[o.Key()]++
				mu.Unlock()
			}(k, d)
		}
	}
	wg.Wait()
	t.Logf("%d keys x %d duplicates over two servers on the cluster: %v", keys, dups, counts)
	if got := counts["503 service_unavailable"]; got != 0 {
		t.Errorf("got %d answers 503: the servers do not follow the cluster", got)
	}
	// Each process keeps its own ledger: what the two spent together is
	// what the keys cost, once each.
	spent := int64(0)
	for _, srv := range servers {
		o, _, err := load.Do(client, srv.URL, load.Req{Method: "GET", Path: "/v1/balance", APIKey: "sk_test_full"})
		if err != nil {
			t.Fatal(err)
		}
		var b struct{ Credits int64 }
		if err := json.Unmarshal(o.Body, &b); err != nil {
			t.Fatalf("balance: %v", err)
		}
		spent += 1000000 - b.Credits
	}
	// clipia-fast costs 1 credit per second; each body asks for 1 second.
	if want := int64(keys); spent != want {
		t.Errorf("credits spent by both servers: got %d, want %d (each key once)", spent, want)
	}
	for _, srv := range servers {
		srv.CheckNoRace(t)
	}
}
