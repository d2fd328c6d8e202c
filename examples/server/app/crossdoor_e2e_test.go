package app

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// doorPairs are the pairs of front doors that TestDoorsShareOneStore runs
// side by side: each pair an Echo door and another, every door at least
// once.
var doorPairs = [][2]string{
	{FrameworkEcho4, FrameworkNetHTTP},
	{FrameworkGin, FrameworkChi},
	{FrameworkEcho5, FrameworkGin},
}

// crossBurst is the burst of the processes of TestDoorsShareOneStore, whose
// bucket refills one token per 1000 s (-rate 0.001): the test spends it
// across both processes.
const crossBurst = 6

// TestDoorsShareOneStore runs two server processes on different front
// doors over one store, for each pair of doorPairs: they are one service.
// An Idempotency-Key used on one door is stored under the route's one
// canonical name (/v1/generations, the record key the test reads from the
// store itself) and replayed by the other door, without running or
// charging again; and over Redis a key's rate-limit bucket is one bucket
// across both doors (crossBurst requests split over them, then one more is
// refused). Over PostgreSQL, which also holds the ledger, the balance on
// both doors shows the one charge. (Rate limits live in Redis or in
// memory, never in PostgreSQL.)
//
// It runs in the parent run only (TestEveryFrontDoor's children skip it):
// it picks its doors itself.
func TestDoorsShareOneStore(t *testing.T) {
	if os.Getenv(envFramework) != "" {
		t.Skip("picks its own front doors: runs in the parent run only")
	}
	t.Run("redis", func(t *testing.T) {
		rs := redistest.Start(t)
		for i, pair := range doorPairs {
			t.Run(pair[0]+"+"+pair[1], func(t *testing.T) {
				// Each pair on its own Redis database: its own buckets.
				db := i + 1
				rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, DB: db})
				t.Cleanup(func() { _ = rdb.Close() })
				args := []string{"-redis", fmt.Sprintf("redis://%s/%d", rs.Addr, db),
					"-rate", "0.001", "-burst", strconv.Itoa(crossBurst), "-work-delay", "1ms"}
				procs := startPair(t, pair, `"store":"redis"`, args...)

				key := newKey("cross-door")
				record := "clipia:idempotency:" + idempotency.RecordKey("tenant:acme", http.MethodPost, "/v1/generations", key)
				first := do(t, procs[0].url, post("sk_test_full", okBody, key))
				if first.status != http.StatusCreated || first.header.Get("Idempotent-Replayed") != "" {
					t.Fatalf("%s: %d %s (Idempotent-Replayed %q), want 201 run",
						pair[0], first.status, first.body, first.header.Get("Idempotent-Replayed"))
				}
				// The response may reach the client just before its record
				// is committed (the guard waits for the commit only so
				// long): wait for the store to hold it, under the route's
				// one name.
				waitFor(t, "the record "+record+" completed in Redis", func() bool {
					s, err := rdb.HGet(context.Background(), record, "s").Result()
					return err == nil && s == "c"
				})
				checkReplays(t, pair, procs, key, first)
				// Without -postgres each process keeps its own ledger: the
				// first door charged once, the replaying door nothing.
				if got, want := balanceOf(t, procs[0].url, "sk_test_full"), int64(1000-5); got != want {
					t.Errorf("balance on %s = %d, want %d (one charge)", pair[0], got, want)
				}
				if got, want := balanceOf(t, procs[1].url, "sk_test_full"), int64(1000); got != want {
					t.Errorf("balance on %s = %d, want %d (a replay charges nothing)", pair[1], got, want)
				}
				checkOneBucket(t, pair, procs)
			})
		}
	})

	t.Run("postgres", func(t *testing.T) {
		for _, pair := range doorPairs {
			t.Run(pair[0]+"+"+pair[1], func(t *testing.T) {
				db := pgDatabase(t)
				procs := startPair(t, pair, `"store":"postgres"`, "-postgres", db, "-work-delay", "1ms")
				pool := pgPool(t, db)

				key := newKey("cross-door")
				record := idempotency.RecordKey("tenant:acme", http.MethodPost, "/v1/generations", key)
				first := do(t, procs[0].url, post("sk_test_full", okBody, key))
				if first.status != http.StatusCreated || first.header.Get("Idempotent-Replayed") != "" {
					t.Fatalf("%s: %d %s (Idempotent-Replayed %q), want 201 run",
						pair[0], first.status, first.body, first.header.Get("Idempotent-Replayed"))
				}
				// On PostgreSQL the response waits for the COMMIT that
				// stores it: the record is there, under the route's one name.
				if n := pgCount(t, pool, `SELECT count(*) FROM apiguard_idempotency WHERE key = $1 AND state = 2`, []byte(record)); n != 1 {
					t.Fatalf("%d completed records under %q, want 1", n, record)
				}
				checkReplays(t, pair, procs, key, first)
				// One ledger in the database: both doors see the one charge.
				for i, p := range procs {
					if got, want := balanceOf(t, p.url, "sk_test_full"), int64(1000-5); got != want {
						t.Errorf("balance on %s = %d, want %d (one charge)", pair[i], got, want)
					}
				}
				if n := pgCount(t, pool, `SELECT count(*) FROM clipia_generations`); n != 1 {
					t.Errorf("%d generations stored, want 1", n)
				}
				if n := pgCount(t, pool, `SELECT count(*) FROM apiguard_idempotency`); n != 1 {
					t.Errorf("%d idempotency records, want 1 (one key, one route name)", n)
				}
			})
		}
	})
}

// startPair starts one process per door of pair with args and checks that
// each serves with its door and the store named by store.
func startPair(t *testing.T, pair [2]string, store string, args ...string) [2]*proc {
	t.Helper()
	var procs [2]*proc
	for i, fw := range pair {
		procs[i] = startProcOn(t, fw, args...)
		if log := procs[i].log.String(); !strings.Contains(log, `"framework":"`+fw+`"`) || !strings.Contains(log, store) {
			t.Fatalf("process %d does not serve on %s with %s:\n%s", i, fw, store, log)
		}
	}
	return procs
}

// checkReplays sends key's request again to the second door, then to the
// first: both replay first's response.
func checkReplays(t *testing.T, pair [2]string, procs [2]*proc, key string, first resp) {
	t.Helper()
	for _, i := range []int{1, 0} {
		r := do(t, procs[i].url, post("sk_test_full", okBody, key))
		if r.status != http.StatusCreated || r.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("the key on %s: %d %s (Idempotent-Replayed %q), want 201 replayed",
				pair[i], r.status, r.body, r.header.Get("Idempotent-Replayed"))
		}
		if !bytes.Equal(r.body, first.body) {
			t.Errorf("replay on %s: body %s, want %s (%s's response)", pair[i], r.body, first.body, pair[0])
		}
		if got, want := r.header.Get("Location"), first.header.Get("Location"); got != want {
			t.Errorf("replay on %s: Location %q, want %q", pair[i], got, want)
		}
	}
}

// checkOneBucket spends sk_test_other's bucket with crossBurst requests
// split over both doors, then sends one more: one bucket, so it is refused.
func checkOneBucket(t *testing.T, pair [2]string, procs [2]*proc) {
	t.Helper()
	for i := range crossBurst {
		got := do(t, procs[i%2].url, req{path: "/v1/models", key: "sk_test_other"})
		if got.status != http.StatusOK {
			t.Fatalf("request %d on %s: %d %s, want 200", i+1, pair[i%2], got.status, got.body)
		}
		want := `"default";r=` + strconv.Itoa(crossBurst-1-i) + ";"
		if rl := got.header.Get("RateLimit"); !strings.HasPrefix(rl, want) {
			t.Errorf("request %d on %s: RateLimit %q, want it to start %s", i+1, pair[i%2], rl, want)
		}
	}
	got := do(t, procs[crossBurst%2].url, req{path: "/v1/models", key: "sk_test_other"})
	// The next token comes 1000 s after the first request, on Redis's
	// clock: Retry-After is 1000, or a little less after a slow run.
	ra, err := strconv.Atoi(got.header.Get("Retry-After"))
	if err != nil || ra < 900 || ra > 1000 {
		t.Errorf("request %d on %s: Retry-After %q, want about 1000", crossBurst+1, pair[crossBurst%2], got.header.Get("Retry-After"))
	}
	checkError(t, got, errorWant{row: rowRateLimited, retryAfter: got.header.Get("Retry-After")})
}
