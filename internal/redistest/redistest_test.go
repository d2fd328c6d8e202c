package redistest

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestStartKillRestart(t *testing.T) {
	s := Start(t)
	c := s.Client(t)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("set: %v", err)
	}
	s.Kill()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("ping after Kill succeeded, want an error")
	}
	s.Restart(t)
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping after Restart: %v", err)
	}
	if got, _ := c.Get(ctx, "k").Result(); got != "" {
		t.Fatalf("after a crash got k=%q, want it gone", got)
	}
}

func TestSharedAddr(t *testing.T) {
	c := Client(t)
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("ping shared: %v", err)
	}
}

func TestPauseResume(t *testing.T) {
	s := Start(t)
	c := s.Client(t)
	ctx := context.Background()
	s.Pause(t)
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("ping while paused succeeded, want a timeout")
	}
	s.Resume(t)
	// The timed-out connection is dropped; the next command redials. The
	// client's timeouts are short (200ms to dial, 500ms to read), which a
	// loaded machine can exceed while the thawed server catches up: retry
	// for up to 20s rather than three times.
	var err error
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if err = c.Ping(ctx).Err(); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("ping after Resume: %v", err)
	}
	s.Pause(t) // Kill at cleanup must not hang on a paused server
}

// A server started on a port another server holds does not come up; the
// other server answering there is not taken for it.
func TestStartRefusesAnotherServersPort(t *testing.T) {
	other := Start(t)
	s := &Server{dir: t.TempDir()}
	err := s.start(binary(t), other.port)
	if err == nil {
		s.Kill()
		t.Fatalf("started on %s, which another server holds", other.Addr)
	}
	if !strings.Contains(err.Error(), "not by the redis-server started") {
		t.Errorf("got %v, want the other process named", err)
	}
}
