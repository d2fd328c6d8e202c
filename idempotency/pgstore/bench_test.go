package pgstore_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/pgstore"
	"github.com/clipia/apiguard/idempotency/redisstore"
	"github.com/clipia/apiguard/internal/pgtest"
	"github.com/clipia/apiguard/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// benchSeq numbers the operations of all benchmark runs.
var benchSeq atomic.Int64

// inFlight is the number of concurrent callers of the benchmarks.
const inFlight = 50

type benchStore struct {
	name   string
	store  idempotency.Store
	writes *atomic.Int64 // round trips: writes on the store's connections
}

// benchStores returns the PostgreSQL and Redis stores, each counting its
// round trips, with connection pools sized for inFlight callers.
func benchStores(b *testing.B) []benchStore {
	b.Helper()
	p, pgWrites := countingPool(b, pgtest.URL(b), inFlight)
	warm(b, p, inFlight)
	pg := newStore(b, p, pgstore.Config{})

	var redisWrites atomic.Int64
	var d net.Dialer
	rdb := redis.NewClient(&redis.Options{
		Addr: redistest.Addr(b), PoolSize: inFlight,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &countingConn{Conn: c, writes: &redisWrites}, nil
		},
	})
	b.Cleanup(func() { _ = rdb.Close() })
	rs, err := redisstore.New(rdb, redisstore.Config{Prefix: redistest.Prefix(b)})
	if err != nil {
		b.Fatal(err)
	}
	return []benchStore{{"postgres", pg, pgWrites}, {"redis", rs, &redisWrites}}
}

// run runs op from inFlight goroutines and reports round trips per
// operation and operations per second.
func run(b *testing.B, writes *atomic.Int64, op func(ctx context.Context, i int64) error) {
	ctx := context.Background()
	seq := &benchSeq // never reused: the function runs again for each b.N
	// Warm up: open the connections and prepare the statements on each.
	var wg sync.WaitGroup
	for range inFlight {
		wg.Go(func() {
			for range 3 {
				if err := op(ctx, seq.Add(1)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.SetParallelism(max(1, inFlight/runtime.GOMAXPROCS(0))) // about inFlight goroutines
	b.ReportAllocs()
	before := writes.Load()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(ctx, seq.Add(1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(writes.Load()-before)/float64(b.N), "roundtrips/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

var benchResp = idempotency.Response{
	Status: 201,
	Header: map[string][]string{"Content-Type": {"application/json"}},
	Body:   []byte(`{"id":"gen_1","status":"queued","prompt":"a cat on a skateboard","duration":5}`),
}

// BenchmarkClaimCommit: a fresh key, claimed and committed (two store
// steps), on PostgreSQL (plain and through a transaction, as the guard
// does with a TxStore) and on Redis.
func BenchmarkClaimCommit(b *testing.B) {
	for _, s := range benchStores(b) {
		b.Run(s.name, func(b *testing.B) {
			run(b, s.writes, func(ctx context.Context, i int64) error {
				key := fmt.Sprint("cc-", i)
				r, err := s.store.Claim(ctx, key, "fp", time.Minute)
				if err != nil {
					return err
				}
				return s.store.Commit(ctx, key, r.Token, benchResp, time.Hour)
			})
		})
		if pg, ok := s.store.(*pgstore.Store); ok {
			b.Run(s.name+"-tx", func(b *testing.B) {
				run(b, s.writes, func(ctx context.Context, i int64) error {
					key := fmt.Sprint("tx-", i)
					r, err := pg.Claim(ctx, key, "fp", time.Minute)
					if err != nil {
						return err
					}
					_, tx, err := pg.Begin(ctx, key, r.Token)
					if err != nil {
						return err
					}
					return tx.Commit(ctx, benchResp, time.Hour)
				})
			})
		}
	}
}

// BenchmarkReplay: the claim of a completed key (a retry that gets the
// stored response), over 1000 keys.
func BenchmarkReplay(b *testing.B) {
	const keys = 1000
	for _, s := range benchStores(b) {
		b.Run(s.name, func(b *testing.B) {
			ctx := context.Background()
			prefix := fmt.Sprint("rp-", benchSeq.Add(1), "-") // the function runs again for each b.N
			for i := range keys {
				key := fmt.Sprint(prefix, i)
				r, err := s.store.Claim(ctx, key, "fp", time.Minute)
				if err != nil {
					b.Fatal(err)
				}
				if err := s.store.Commit(ctx, key, r.Token, benchResp, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
			run(b, s.writes, func(ctx context.Context, i int64) error {
				r, err := s.store.Claim(ctx, fmt.Sprint(prefix, i%keys), "fp", time.Minute)
				if err == nil && (r.Claimed || r.Record.Response == nil) {
					err = fmt.Errorf("replay: got %+v, want the completed record", r)
				}
				return err
			})
		})
	}
}
