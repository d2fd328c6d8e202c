package idemtest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/redisstore"
	"github.com/clipia/apiguard/internal/doors"
	"github.com/clipia/apiguard/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// benchApp builds the app of door d for [Bench]: the guard of cfg and h on
// POST /v1/generations, nothing else. With cfg nil, the route has no guard
// (the baseline).
func benchApp(b *testing.B, d doors.Door, cfg *idempotency.Config, h http.HandlerFunc) http.Handler {
	var gs []guard.Guard
	if cfg != nil {
		c := *cfg
		if c.Logger == nil {
			c.Logger = slog.New(slog.DiscardHandler)
		}
		g, err := idempotency.New(c)
		if err != nil {
			b.Fatal(err)
		}
		gs = append(gs, g)
	}
	return d.New(b, spec(doors.Route{Method: http.MethodPost, Path: "/v1/generations", Guards: gs,
		Handler: func(w http.ResponseWriter, r *http.Request, _ doors.Params) error { h(w, r); return nil }}))
}

// BenchResponse is the handler of the benchmark's route: 201 with a small
// JSON body.
func BenchResponse(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(benchResp)
}

var (
	benchResp   = []byte(`{"id":"gen_1","object":"generation","status":"succeeded"}`)
	benchBody   = []byte(`{"model":"clipia-fast","prompt":"a cat on a skateboard","duration":5,"resolution":"720p"}`)
	benchURL, _ = url.Parse("/v1/generations")
)

// countingStore counts store calls.
type countingStore struct {
	idempotency.Store
	n atomic.Int64
}

func (s *countingStore) Claim(ctx context.Context, key, fp string, lease time.Duration) (idempotency.ClaimResult, error) {
	s.n.Add(1)
	return s.Store.Claim(ctx, key, fp, lease)
}

func (s *countingStore) Commit(ctx context.Context, key, token string, r idempotency.Response, ret time.Duration) error {
	s.n.Add(1)
	return s.Store.Commit(ctx, key, token, r, ret)
}

func (s *countingStore) Release(ctx context.Context, key, token string) error {
	s.n.Add(1)
	return s.Store.Release(ctx, key, token)
}

func (s *countingStore) Get(ctx context.Context, key string) (idempotency.Record, bool, error) {
	s.n.Add(1)
	return s.Store.Get(ctx, key)
}

// RoundTrips counts what go-redis sends to the server: every command, a
// pipeline as one, and the EVAL retry after a NOSCRIPT as one more.
type RoundTrips struct{ N atomic.Int64 }

// DialHook implements redis.Hook.
func (h *RoundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (h *RoundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.N.Add(1)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook.
func (h *RoundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.N.Add(1)
		return next(ctx, cmds)
	}
}

// discard is a cheap http.ResponseWriter.
type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(code int)        { d.code = code }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }

func serve(b *testing.B, h http.Handler, key string) {
	var hdr http.Header
	if key != "" {
		hdr = http.Header{"Content-Type": {"application/json"}, "Idempotency-Key": {key}}
	} else {
		hdr = http.Header{"Content-Type": {"application/json"}}
	}
	req := &http.Request{
		Method:        http.MethodPost,
		URL:           benchURL,
		Header:        hdr,
		Body:          io.NopCloser(bytes.NewReader(benchBody)),
		ContentLength: int64(len(benchBody)),
		RemoteAddr:    "192.0.2.1:1234",
		Host:          "api.example",
	}
	req = req.WithContext(context.Background())
	w := &discard{h: http.Header{}}
	h.ServeHTTP(w, req)
	if w.code != http.StatusCreated {
		b.Errorf("status %d, want 201", w.code)
	}
}

// Bench benchmarks the guard through each front door, with a memory store
// and with Redis (redistest: $APIGUARD_REDIS_ADDR or a redis-server it
// starts), on fresh keys and on the replay of one key, reporting store
// calls and Redis round trips per request; "baseline" is the route without
// the guard. Select a door with -bench 'Guard/echo4'.
func Bench(b *testing.B) {
	for _, d := range doors.All() {
		b.Run(d.Name, func(b *testing.B) {
			BenchWith(b, func(cfg *idempotency.Config, h http.HandlerFunc) http.Handler { return benchApp(b, d, cfg, h) })
		})
	}
}

// BenchApp builds an app for [BenchWith]: the guard of cfg and h on POST
// /v1/generations, nothing else. With cfg nil, the route has no guard (the
// baseline).
type BenchApp func(cfg *idempotency.Config, h http.HandlerFunc) http.Handler

// BenchWith is [Bench] on the apps that app builds, e.g. one door with the
// OpenTelemetry SDK installed.
func BenchWith(b *testing.B, app BenchApp) {
	type kind struct {
		name     string
		new      func(b *testing.B) (idempotency.Store, *RoundTrips)
		inFlight int // requests in flight; 0: GOMAXPROCS
	}
	kinds := []kind{
		{"memory", func(b *testing.B) (idempotency.Store, *RoundTrips) {
			s := idempotency.NewMemoryStore(idempotency.MemoryConfig{MaxRecords: 1 << 22})
			b.Cleanup(func() { _ = s.Close() })
			return s, nil
		}, 0},
		{"redis", func(b *testing.B) (idempotency.Store, *RoundTrips) {
			rdb := redis.NewClient(&redis.Options{Addr: redistest.Addr(b), PoolSize: 64})
			b.Cleanup(func() { _ = rdb.Close() })
			rt := &RoundTrips{}
			rdb.AddHook(rt)
			s, err := redisstore.New(rdb, redisstore.Config{Prefix: redistest.Prefix(b)})
			if err != nil {
				b.Fatal(err)
			}
			return s, rt
		}, 50},
	}
	var seq atomic.Int64
	for _, k := range kinds {
		for _, mode := range []string{"fresh", "replay"} {
			b.Run(k.name+"/"+mode, func(b *testing.B) {
				inner, rt := k.new(b)
				cs := &countingStore{Store: inner}
				h := app(&idempotency.Config{Store: cs}, BenchResponse)
				replayKey := "replay-" + strconv.FormatInt(seq.Add(1), 10)
				if mode == "replay" {
					serve(b, h, replayKey) // store it once
				}
				// Warm up: open the pool's connections (their HELLO and
				// CLIENT SETINFO are per connection, not per request) and
				// load the scripts.
				var wg sync.WaitGroup
				for i := range 64 {
					wg.Go(func() { serve(b, h, "warm-"+strconv.FormatInt(seq.Add(1), 10)+"-"+strconv.Itoa(i)) })
				}
				wg.Wait()
				cs.n.Store(0)
				if rt != nil {
					rt.N.Store(0)
				}
				if k.inFlight > 0 {
					b.SetParallelism(max(1, k.inFlight/runtime.GOMAXPROCS(0)))
				}
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						key := replayKey
						if mode == "fresh" {
							key = "fresh-" + strconv.FormatInt(seq.Add(1), 10)
						}
						serve(b, h, key)
					}
				})
				b.StopTimer()
				b.ReportMetric(float64(cs.n.Load())/float64(b.N), "store-calls/op")
				if rt != nil {
					b.ReportMetric(float64(rt.N.Load())/float64(b.N), "roundtrips/op")
				}
			})
		}
	}
	b.Run("baseline", func(b *testing.B) {
		h := app(nil, BenchResponse)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				serve(b, h, "k")
			}
		})
	})
	b.Run("passthrough", func(b *testing.B) {
		// A guarded route, a request without a key.
		h := app(&idempotency.Config{}, BenchResponse)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				serve(b, h, "")
			}
		})
	})
}
