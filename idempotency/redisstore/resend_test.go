package redisstore

import (
	"context"
	"testing"

	"github.com/clipia/apiguard/internal/redistest"
)

// TestScriptsSurviveResend: go-redis may send a script again when its reply
// was lost. The re-sent claim must still be the request's own claim, and a
// re-sent commit must keep the first response.
func TestScriptsSurviveResend(t *testing.T) {
	rdb := redistest.Client(t)
	ctx := context.Background()
	key := []string{redistest.Prefix(t) + "rec"}

	for i := range 2 {
		v, err := claimScript.Run(ctx, rdb, key, "fp", "tok-1", 60000).Slice()
		if err != nil {
			t.Fatalf("claim #%d: %v", i+1, err)
		}
		if len(v) != 1 || v[0] != int64(1) {
			t.Fatalf("claim #%d with the same token: got %v, want [1]", i+1, v)
		}
	}
	v, err := claimScript.Run(ctx, rdb, key, "fp", "tok-2", 60000).Slice()
	if err != nil {
		t.Fatalf("claim with another token: %v", err)
	}
	if len(v) != 6 || v[0] != int64(0) {
		t.Fatalf("claim with another token: got %v, want the in-progress record", v)
	}
	if n, err := commitScript.Run(ctx, rdb, key, "tok-1", 60000, "resp").Int64(); err != nil || n != 1 {
		t.Fatalf("commit: got %d, %v; want 1", n, err)
	}
	if n, err := commitScript.Run(ctx, rdb, key, "tok-1", 60000, "again").Int64(); err != nil || n != 0 {
		t.Fatalf("re-sent commit: got %d, %v; want 0", n, err)
	}
	if n, err := commitScript.Run(ctx, rdb, key, "tok-2", 60000, "other").Int64(); err != nil || n != 0 {
		t.Fatalf("commit with a stale token: got %d, %v; want 0", n, err)
	}
	if got, _ := rdb.HGet(ctx, key[0], "r").Result(); got != "resp" {
		t.Fatalf("stored response = %q, want %q", got, "resp")
	}
}
