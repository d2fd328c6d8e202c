package faults

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/clipia/apiguard/bench/load"
	idemredis "github.com/clipia/apiguard/idempotency/redisstore"
	rlredis "github.com/clipia/apiguard/ratelimit/redisstore"
	"github.com/redis/go-redis/v9"
)

// TestSlowRedis puts a latency proxy between the reference server and
// Redis and measures how long requests take as Redis gets slower. The rate
// limiter's Redis store bounds its wait (500 ms by default) and then fails
// open, so GET /v1/models stays bounded. The idempotency Redis store bounds
// each call with its Timeout (1 s by default), which go-redis honours when
// the client has ContextTimeoutEnabled, as the reference server's has;
// without it only the client's socket timeouts bound a keyed POST, and this
// test reports what that means.
func TestSlowRedis(t *testing.T) {
	delays := []time.Duration{0, 100 * time.Millisecond, 1200 * time.Millisecond}
	if load.Long() {
		delays = []time.Duration{0, 200 * time.Millisecond, 1 * time.Second, 4 * time.Second, 7 * time.Second}
	}
	rd := load.StartRedis(t)
	px := load.StartProxy(t, rd.Addr())
	srv := load.StartServer(t, "-redis", "redis://"+px.Addr()+"/0", "-rate", "100000", "-burst", "100000", "-work-delay", "0", "-credits", "1000000000")
	client := load.NewHTTPClient(2, 60*time.Second)
	targets := []struct{ name, url string }{
		{"reference server (context timeouts on)", srv.URL},
		{"in process, go-redis defaults", inProcess(t, px.Addr(), false)},
		{"in process, ContextTimeoutEnabled", inProcess(t, px.Addr(), true)},
	}

	var b fmtBuilder
	b.f("### Slow Redis (latency proxy between the server and Redis)\n\n")
	b.f("| server | added latency per round trip | GET /v1/models | its status | keyed POST /v1/generations | its status |\n|---|---:|---:|---|---:|---|\n")
	for i, d := range delays {
		px.SetDelay(d / 2) // half each way
		time.Sleep(d + 50*time.Millisecond)
		for j, tg := range targets {
			testDelay(t, &b, client, tg.name, tg.url, d, i*10+j)
		}
	}
	px.SetDelay(0)
	srv.CheckNoRace(t)
	load.WriteResult(t, "slow-redis.md", b.String())
}

// inProcess serves the apiguard chain with Redis stores on a client to
// addr; ctxTimeout sets go-redis's ContextTimeoutEnabled.
func inProcess(t *testing.T, addr string, ctxTimeout bool) string {
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: ctxTimeout})
	t.Cleanup(func() { rdb.Close() })
	rs, err := rlredis.New(rdb, rlredis.Config{Prefix: "slow:rl:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	is, err := idemredis.New(rdb, idemredis.Config{Prefix: "slow:idem:"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := load.NewStack(load.StackConfig{Stack: load.Apiguard, RateStore: rs, IdemStore: is})
	if err != nil {
		t.Fatal(err)
	}
	return load.Serve(t, e)
}

// bounded names the targets whose Redis client honours context deadlines.
var bounded = map[string]bool{
	"reference server (context timeouts on)": true,
	"in process, ContextTimeoutEnabled":      true,
}

func testDelay(t *testing.T, b *fmtBuilder, client *http.Client, name, url string, d time.Duration, i int) {
	t.Helper()
	{
		get := load.Req{Method: "GET", Path: "/v1/models", APIKey: "sk_test_full"}
		og, lg, err := load.Do(client, url, get)
		if err != nil {
			t.Fatalf("GET at %v: %v", d, err)
		}
		post := load.Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_full", Body: load.GenBody("slow", 1),
			Header: map[string]string{"Idempotency-Key": "slow-" + strconv.Itoa(i)}}
		op, lp, err := load.Do(client, url, post)
		if err != nil {
			t.Fatalf("POST at %v: %v", d, err)
		}
		getStatus := og.Key()
		if og.Header.Get("RateLimit") == "" {
			getStatus += " (failed open)"
		}
		b.f("| %s | %v | %v | %s | %v | %s |\n", name, d, lg.Round(time.Millisecond), getStatus, lp.Round(time.Millisecond), op.Key())

		// The rate limiter's wait is bounded by its 500 ms timeout: no
		// request waits for a rate-limit decision as long as a Redis 1.2 s
		// slower would make it, and a slow store is never a 429. (A GET
		// that waited for such a Redis takes 1.2 s at least; the bound
		// leaves 650 ms above the timeout for a loaded machine.)
		if lg > 1150*time.Millisecond {
			t.Errorf("%s: GET /v1/models with Redis %v slower took %v: the rate limiter's 500ms timeout does not bound it", name, d, lg)
		}
		if d > 0 && d < 400*time.Millisecond && lg < d {
			t.Errorf("%s: GET took %v with %v added: the proxy did not slow Redis down", name, lg, d)
		}
		if d >= time.Second && og.Header.Get("RateLimit") != "" {
			t.Errorf("%s: with Redis %v slower the rate limiter still answered (RateLimit header): it waited past its timeout", name, d)
		}
		if og.Status != http.StatusOK {
			t.Errorf("%s: GET /v1/models with Redis %v slower: %s, want 200 (fail open)", name, d, og.Key())
		}
		if op.Status != http.StatusCreated && op.Key() != "503 service_unavailable" {
			t.Errorf("%s: keyed POST with Redis %v slower: %s, want 201 or 503", name, d, op.Key())
		}
		// Finding check: a keyed POST's latency when Redis is slower than
		// any sane timeout. Bounded means: it ends, with 503, well before
		// the client gives up.
		if lp > 20*time.Second {
			t.Errorf("%s: keyed POST with Redis %v slower took %v: unbounded wait on the idempotency store", name, d, lp)
		}
		// With context timeouts on (the reference server sets
		// ContextTimeoutEnabled), the stores' own timeouts bound a keyed
		// POST: the rate limiter's 500 ms, then at most one second for the
		// claim and one for the commit.
		if bounded[name] && lp > 3500*time.Millisecond {
			t.Errorf("%s: keyed POST with Redis %v slower took %v, want at most 3.5s (store timeouts)", name, d, lp)
		}
	}
}
