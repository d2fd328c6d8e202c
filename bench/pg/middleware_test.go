package pg

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/pgstore"
	"github.com/clipia/apiguard/idempotency/redisstore"
	"github.com/clipia/apiguard/internal/pgtest"
	"github.com/clipia/apiguard/internal/redistest"
	"github.com/clipia/apiguard/middleware/nethttp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// inFlight is the number of requests in flight in the benchmarks.
const inFlight = 50

// seq numbers the keys of every run, so that a fresh key is never reused
// (the benchmark functions run again for each b.N).
var seq atomic.Int64

// countingConn counts the writes on a connection: one per round trip, as
// pgx and go-redis write each batch or pipeline in one go.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

func countingDial(writes *atomic.Int64) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: c, writes: writes}, nil
	}
}

// backend is one idempotency store under the middleware, with the counter
// of its round trips.
type backend struct {
	name   string
	store  idempotency.Store
	writes *atomic.Int64
}

// backends returns the PostgreSQL store (a pool of inFlight connections,
// its own table) and the Redis store (a pool of inFlight, its own prefix).
func backends(b *testing.B) []backend {
	b.Helper()
	var pgWrites, redisWrites atomic.Int64
	cfg, err := pgxpool.ParseConfig(pgtest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.ConnConfig.DialFunc = countingDial(&pgWrites)
	cfg.MaxConns, cfg.MinConns = inFlight, inFlight
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	table := fmt.Sprintf("bench_idem_%d", seq.Add(1))
	ps, err := pgstore.New(pool, pgstore.Config{Table: table, SweepInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	if err := ps.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ps.Close()
		_, _ = pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+table)
	})

	rdb := redis.NewClient(&redis.Options{Addr: redistest.Addr(b), PoolSize: inFlight, Dialer: countingDial(&redisWrites)})
	b.Cleanup(func() { _ = rdb.Close() })
	rs, err := redisstore.New(rdb, redisstore.Config{Prefix: redistest.Prefix(b)})
	if err != nil {
		b.Fatal(err)
	}
	return []backend{{"postgres", ps, &pgWrites}, {"redis", rs, &redisWrites}}
}

// created is the handler behind the guard: a generation's 201.
var created = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(`{"id":"gen_1","object":"generation","model":"clipia-fast","cost":5,"status":"succeeded"}` + "\n"))
})

// guarded returns the net/http front door with the idempotency guard of
// store in front of created.
func guarded(b *testing.B, store idempotency.Store) http.Handler {
	b.Helper()
	idem, err := idempotency.New(idempotency.Config{Store: store})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /v1/generations", nethttp.Use(idem)(created))
	return nethttp.Install(mux, nethttp.Config{})
}

const genBody = `{"model":"clipia-fast","prompt":"a cat on a skateboard"}`

// serve sends one POST /v1/generations with key through h in this
// process (no network between client and guard: the store's round trips
// are what is measured) and checks the answer.
func serve(h http.Handler, key string, wantReplay bool) error {
	r := httptest.NewRequest(http.MethodPost, "/v1/generations", strings.NewReader(genBody))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Idempotency-Key", key)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusCreated {
		return fmt.Errorf("status %d: %s", w.Code, w.Body)
	}
	if got := w.Header().Get("Idempotent-Replayed") == "true"; got != wantReplay {
		return fmt.Errorf("Idempotent-Replayed %v, want %v", got, wantReplay)
	}
	return nil
}

// run runs op with inFlight requests in flight and reports round trips
// per request and requests per second.
func run(b *testing.B, writes *atomic.Int64, op func(i int64) error) {
	// Warm up: every connection opened, every statement prepared.
	var wg sync.WaitGroup
	for range inFlight {
		wg.Go(func() {
			for range 3 {
				if err := op(seq.Add(1)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.SetParallelism(max(1, inFlight/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	before := writes.Load()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(seq.Add(1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(writes.Load()-before)/float64(b.N), "roundtrips/req")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkMiddlewareFreshKey: a POST with a new Idempotency-Key through
// the guard, which claims it, runs the handler and stores its response
// (PostgreSQL: claim, BEGIN, then the fenced update and COMMIT in one
// round trip; Redis: claim, commit).
func BenchmarkMiddlewareFreshKey(b *testing.B) {
	for _, be := range backends(b) {
		h := guarded(b, be.store)
		b.Run(be.name, func(b *testing.B) {
			run(b, be.writes, func(i int64) error { return serve(h, fmt.Sprint("fresh-", i), false) })
		})
	}
}

// BenchmarkMiddlewareReplay: a retry of one of 1000 completed keys, which
// the guard answers with the stored response without running the handler.
func BenchmarkMiddlewareReplay(b *testing.B) {
	const keys = 1000
	for _, be := range backends(b) {
		h := guarded(b, be.store)
		b.Run(be.name, func(b *testing.B) {
			prefix := fmt.Sprint("replay-", seq.Add(1), "-")
			for i := range keys {
				if err := serve(h, fmt.Sprint(prefix, i), false); err != nil {
					b.Fatal(err)
				}
			}
			run(b, be.writes, func(i int64) error { return serve(h, fmt.Sprint(prefix, i%keys), true) })
		})
	}
}
