package idempotency_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/redisstore"
	"github.com/clipia/apiguard/internal/redistest"
	"github.com/clipia/apiguard/middleware"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
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

// roundTrips counts what go-redis sends to the server: every command, a
// pipeline as one, and the EVAL retry after a NOSCRIPT as one more.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
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

var benchBody = []byte(`{"model":"clipia-fast","prompt":"a cat on a skateboard","duration":5,"resolution":"720p"}`)

func benchEcho(store idempotency.Store) *echo.Echo {
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{})
	e.Use(middleware.Must(idempotency.New(idempotency.Config{Store: store})))
	resp := []byte(`{"id":"gen_1","object":"generation","status":"succeeded"}`)
	e.POST("/v1/generations", func(c echo.Context) error {
		return c.JSONBlob(http.StatusCreated, resp)
	})
	return e
}

var benchURL, _ = url.Parse("/v1/generations")

func serve(b *testing.B, e *echo.Echo, key string) {
	req := &http.Request{
		Method:        http.MethodPost,
		URL:           benchURL,
		Header:        http.Header{"Content-Type": {"application/json"}, "Idempotency-Key": {key}},
		Body:          io.NopCloser(bytes.NewReader(benchBody)),
		ContentLength: int64(len(benchBody)),
		RemoteAddr:    "192.0.2.1:1234",
		Host:          "api.example",
	}
	req = req.WithContext(context.Background())
	w := &discard{h: http.Header{}}
	e.ServeHTTP(w, req)
	if w.code != http.StatusCreated {
		b.Errorf("status %d, want 201", w.code)
	}
}

func BenchmarkMiddleware(b *testing.B) {
	type kind struct {
		name     string
		new      func(b *testing.B) (idempotency.Store, *roundTrips)
		inFlight int // requests in flight; 0: GOMAXPROCS
	}
	kinds := []kind{
		{"memory", func(b *testing.B) (idempotency.Store, *roundTrips) {
			s := idempotency.NewMemoryStore(idempotency.MemoryConfig{MaxRecords: 1 << 22})
			b.Cleanup(func() { _ = s.Close() })
			return s, nil
		}, 0},
		{"redis", func(b *testing.B) (idempotency.Store, *roundTrips) {
			rdb := redis.NewClient(&redis.Options{Addr: redistest.Addr(b), PoolSize: 64})
			b.Cleanup(func() { _ = rdb.Close() })
			rt := &roundTrips{}
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
				e := benchEcho(cs)
				replayKey := "replay-" + strconv.FormatInt(seq.Add(1), 10)
				if mode == "replay" {
					serve(b, e, replayKey) // store it once
				}
				// Warm up: open the pool's connections (their HELLO and
				// CLIENT SETINFO are per connection, not per request) and
				// load the scripts.
				var wg sync.WaitGroup
				for i := range 64 {
					wg.Go(func() { serve(b, e, "warm-"+strconv.FormatInt(seq.Add(1), 10)+"-"+strconv.Itoa(i)) })
				}
				wg.Wait()
				cs.n.Store(0)
				if rt != nil {
					rt.n.Store(0)
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
						serve(b, e, key)
					}
				})
				b.StopTimer()
				b.ReportMetric(float64(cs.n.Load())/float64(b.N), "store-calls/op")
				if rt != nil {
					b.ReportMetric(float64(rt.n.Load())/float64(b.N), "roundtrips/op")
				}
			})
		}
	}
}

// BenchmarkBaseline is the same route without the middleware.
func BenchmarkBaseline(b *testing.B) {
	e := echo.New()
	resp := []byte(`{"id":"gen_1","object":"generation","status":"succeeded"}`)
	e.POST("/v1/generations", func(c echo.Context) error { return c.JSONBlob(http.StatusCreated, resp) })
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			serve(b, e, "k")
		}
	})
}
