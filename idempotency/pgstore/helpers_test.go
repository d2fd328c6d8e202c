package pgstore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/idempotency/pgstore"
	"github.com/clipia/apiguard/internal/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	sharedPoolOnce sync.Once
	sharedPool     *pgxpool.Pool
	tableSeq       atomic.Int64
)

// pool returns one pool on the shared database for the whole test binary.
func pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	url := pgtest.URL(t)
	sharedPoolOnce.Do(func() {
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			t.Fatalf("parse %s: %v", pgtest.EnvURL, err)
		}
		cfg.MaxConns = 60
		p, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			t.Fatalf("pool: %v", err)
		}
		warm(t, p, 55)
		sharedPool = p
	})
	if sharedPool == nil {
		t.Fatal("no shared pool")
	}
	return sharedPool
}

// uniqueTable returns a table name no other test uses.
func uniqueTable(t testing.TB) string {
	return fmt.Sprintf("apiguard_test_%d_%d", tableSeq.Add(1), randInt())
}

func randInt() int64 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return int64(b[0])<<16 | int64(b[1])<<8 | int64(b[2])
}

// newStore returns a migrated store on its own table of p (the shared pool
// when nil), without a background sweeper unless cfg asks for one, and with
// a call timeout of 10 s unless cfg sets one; the table is dropped when t
// ends.
//
// The default timeout of a second is short for the concurrency cases on a
// database that the other test binaries load too (50 claims of one key
// queue on its row lock); no case here needs a call to time out, except
// those that set Timeout.
func newStore(t testing.TB, p *pgxpool.Pool, cfg pgstore.Config) *pgstore.Store {
	t.Helper()
	if p == nil {
		p = pool(t)
	}
	if cfg.Table == "" {
		cfg.Table = uniqueTable(t)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = -1
	}
	// Create the table before New starts a background sweeper on it.
	ddl, err := pgstore.Schema(cfg.Table)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Exec(context.Background(), ddl); err != nil {
		t.Fatalf("schema: %v", err)
	}
	s, err := pgstore.New(p, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Migrate(context.Background()); err != nil { // again: harmless
		t.Fatalf("Migrate: %v", err)
	}
	t.Cleanup(func() {
		s.Close()
		_, _ = p.Exec(context.Background(), "DROP TABLE IF EXISTS "+s.Table())
	})
	return s
}

// countingPool returns a pool on url whose connections count the writes
// they send: each write is one round trip to the server (pgx sends a
// statement, or a whole batch, in one write and then waits for the answer).
func countingPool(t testing.TB, url string, maxConns int32) (*pgxpool.Pool, *atomic.Int64) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	var writes atomic.Int64
	var d net.Dialer
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: c, writes: &writes}, nil
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	// No liveness ping before a call: pgxpool pings a connection idle for
	// over a second, a write that a stall of a loaded machine between two
	// calls would add to the count. A dead connection is then found when a
	// call uses it.
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, &writes
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// warm opens n connections of p now: the concurrency cases need 50 at
// once, and dialing them all inside one call's Timeout (a second) is slow
// on a small, loaded CI machine. Applications warm their pools too
// (pgxpool Config.MinConns).
func warm(t testing.TB, p *pgxpool.Pool, n int) {
	t.Helper()
	var conns []*pgxpool.Conn
	for range n {
		c, err := p.Acquire(context.Background())
		if err != nil {
			t.Fatalf("warming the pool: %v", err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}
}
