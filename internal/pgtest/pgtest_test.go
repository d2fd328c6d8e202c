package pgtest

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

func TestSharedURL(t *testing.T) {
	p := Pool(t)
	var n int
	if err := p.QueryRow(context.Background(), "SELECT 41 + 1").Scan(&n); err != nil || n != 42 {
		t.Fatalf("query on the shared database: got %d, %v; want 42", n, err)
	}
}

func TestStopRestartKeepsCommittedData(t *testing.T) {
	s := Start(t)
	p := s.Pool(t)
	ctx := context.Background()
	if _, err := p.Exec(ctx, "CREATE TABLE t (v int); INSERT INTO t VALUES (7)"); err != nil {
		t.Fatalf("create: %v", err)
	}
	s.Stop()
	if err := p.Ping(ctx); err == nil {
		t.Fatal("ping after Stop succeeded, want an error")
	}
	s.Restart(t)
	var v int
	var err error
	// The pool drops the connections cut by the shutdown and dials again,
	// each dial bounded by the pool's 1s connect_timeout, which a loaded
	// machine can exceed: retry for up to 20s rather than three times.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if err = p.QueryRow(ctx, "SELECT v FROM t").Scan(&v); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || v != 7 {
		t.Fatalf("after an immediate shutdown and a restart: got %d, %v; want the committed 7", v, err)
	}
}

func TestRunsAsNonRoot(t *testing.T) {
	p := Start(t).Pool(t)
	var dir string
	if err := p.QueryRow(context.Background(), "SHOW data_directory").Scan(&dir); err != nil {
		t.Fatalf("show: %v", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatalf("stat data directory: %v", err)
	}
	if os.Geteuid() == 0 && ownerUID(st) == 0 {
		t.Fatalf("data directory %s is owned by root; the cluster must run as another user", dir)
	}
}

func TestStopIsImmediate(t *testing.T) {
	s := Start(t)
	p := s.Pool(t)
	ctx := context.Background()
	conn, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "BEGIN; CREATE TABLE u (v int)"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.Stop() // a smart or fast shutdown would wait for or roll back the open transaction politely
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Stop took %v", d)
	}
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("the open connection still works after Stop")
	}
}
