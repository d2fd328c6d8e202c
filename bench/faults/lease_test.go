package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clipia/apiguard/bench/load"
	"github.com/redis/go-redis/v9"
)

// waitClaim waits until an idempotency record exists in Redis and returns
// when it was first seen (just after the claim).
func waitClaim(t *testing.T, rdb *redis.Client, pattern string) (string, time.Time) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		keys, err := rdb.Keys(context.Background(), pattern).Result()
		if err == nil && len(keys) == 1 {
			return keys[0], time.Now()
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no idempotency record %s appeared in Redis", pattern)
	return "", time.Time{}
}

// balance is the credits of apiKey's tenant on srv (GET /v1/balance).
func balance(t *testing.T, client *http.Client, srv *load.Server, apiKey string) int64 {
	t.Helper()
	o, _, err := load.Do(client, srv.URL, load.Req{Method: "GET", Path: "/v1/balance", APIKey: apiKey})
	if err != nil || o.Status != http.StatusOK {
		t.Fatalf("GET /v1/balance: %v %s", err, o.Key())
	}
	var b struct {
		Credits int64 `json:"credits"`
	}
	if err := json.Unmarshal(o.Body, &b); err != nil {
		t.Fatalf("balance %s: %v", o.Body, err)
	}
	return b.Credits
}

// retryUntilRun retries req on srv every interval until it is answered 201,
// and returns the 409 request_in_progress answers seen before, the 201 and
// when it came.
func retryUntilRun(t *testing.T, client *http.Client, srv *load.Server, req load.Req, d time.Duration) (inProgress int, first load.Outcome, at time.Time) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		o, _, err := load.Do(client, srv.URL, req)
		if err != nil {
			t.Fatalf("retry: %v", err)
		}
		switch o.Key() {
		case "409 request_in_progress":
			inProgress++
			if o.Header.Get("Retry-After") == "" {
				t.Errorf("409 request_in_progress without Retry-After")
			}
		case "201":
			return inProgress, o, time.Now()
		default:
			t.Fatalf("retry got %s, want 409 request_in_progress or 201: %s", o.Key(), o.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the retry never ran within %v", d)
	return
}

// TestSIGKILLWhileHoldingLease kills a server (SIGKILL) in the middle of a
// request that holds an idempotency lease in Redis. A retry on a second
// server sharing Redis gets 409 request_in_progress until the lease
// expires, then runs once; later retries replay that run. The dead owner
// never commits.
func TestSIGKILLWhileHoldingLease(t *testing.T) {
	const lease = 2 * time.Second
	rd := load.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: rd.Addr()})
	t.Cleanup(func() { rdb.Close() })
	common := []string{"-redis", rd.URL(), "-lock-ttl", lease.String(), "-rate", "1000", "-burst", "1000"}
	a := load.StartServer(t, append(common, "-work-delay", "5s")...)
	b := load.StartServer(t, append(common, "-work-delay", "100ms")...)
	client := load.NewHTTPClient(4, 10*time.Second)

	req := load.Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_full",
		Body: load.GenBody("killed mid-request", 3), Header: map[string]string{"Idempotency-Key": "sigkill-1"}}
	aDone := make(chan error, 1)
	go func() {
		_, _, err := load.Do(client, a.URL, req)
		aDone <- err
	}()
	key, claimed := waitClaim(t, rdb, "clipia:idempotency:*sigkill-1*")
	a.Kill() // returns once the process is gone: it renews no more
	// When the dead owner's lease ends, read from Redis (the record expires
	// with its lease): exact, whenever the claim was seen and however often
	// the owner renewed before it died.
	asked := time.Now()
	ttl, err := rdb.PTTL(context.Background(), key).Result()
	if err != nil || ttl <= 0 {
		t.Fatalf("the dead owner's record: PTTL %v %v, want its lease still running", ttl, err)
	}
	expires := asked.Add(ttl)
	if err := <-aDone; err == nil {
		t.Errorf("the request to the killed server got an answer")
	}

	inProgress, first, ranAt := retryUntilRun(t, client, b, req, 20*time.Second)
	if inProgress == 0 {
		t.Errorf("no 409 request_in_progress before the lease expired")
	}
	if first.Replayed {
		t.Errorf("the first 201 after the lease was a replay: the dead owner committed")
	}
	// The retry runs once the record has expired; one that ran before
	// (beyond Redis's millisecond TTL rounding) means the lease did not hold.
	if early := expires.Sub(ranAt); early > 100*time.Millisecond {
		t.Errorf("the retry ran %v before the dead owner's lease expired (%v after the claim, lease %v)", early, ranAt.Sub(claimed), lease)
	}
	if late := ranAt.Sub(expires); late > 2*time.Second {
		t.Errorf("the retry ran %v after the lease expired: recovery is slow", late)
	}

	// Later retries replay B's run, byte for byte; and after the dead
	// owner's work would have finished, the record is still B's.
	time.Sleep(3500 * time.Millisecond)
	o, _, err := load.Do(client, b.URL, req)
	if err != nil || !o.Replayed || !bytes.Equal(o.Body, first.Body) {
		t.Errorf("retry after the run: %v %s replayed=%v body %s, want a replay of %s", err, o.Key(), o.Replayed, o.Body, first.Body)
	}
	rec, err := rdb.HGetAll(context.Background(), key).Result()
	if err != nil || rec["s"] != "c" || !strings.Contains(rec["r"], load.GenID(first.Body)) {
		t.Errorf("record in Redis: %v %v, want completed with the second server's generation %s", err, rec, load.GenID(first.Body))
	}
	b.CheckNoRace(t)
	load.WriteResult(t, "sigkill.md", fmt.Sprintf("SIGKILL of the server holding the lease (-lock-ttl %v, -work-delay 5s): the retry on a second server got %d × 409 request_in_progress, then ran %v after the claim was first seen; the next retry replayed that run; the record in Redis is the second server's.\n",
		lease, inProgress, ranAt.Sub(claimed).Round(time.Millisecond)))
}

// TestFrozenOwnerCannotCommit freezes (SIGSTOP) a server holding a lease
// until the lease expires and a second server has run and committed the
// request, then thaws it (SIGCONT). The frozen owner could not renew its
// lease, so it has lost its claim: either its handler's context is cancelled
// (its client gets a 503 and nothing is charged), or the handler finishes
// first and answers its own 201, whose commit is refused by the fencing
// token. Either way the record stays the second server's.
func TestFrozenOwnerCannotCommit(t *testing.T) {
	const lease = time.Second
	rd := load.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: rd.Addr()})
	t.Cleanup(func() { rdb.Close() })
	common := []string{"-redis", rd.URL(), "-lock-ttl", lease.String(), "-rate", "1000", "-burst", "1000"}
	a := load.StartServer(t, append(common, "-work-delay", "3s")...)
	b := load.StartServer(t, append(common, "-work-delay", "50ms")...)
	client := load.NewHTTPClient(4, 20*time.Second)
	before := balance(t, client, a, "sk_test_full")

	req := load.Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_full",
		Body: load.GenBody("frozen owner", 2), Header: map[string]string{"Idempotency-Key": "sigstop-1"}}
	type answer struct {
		o   load.Outcome
		err error
	}
	aDone := make(chan answer, 1)
	go func() {
		o, _, err := load.Do(client, a.URL, req)
		aDone <- answer{o, err}
	}()
	key, _ := waitClaim(t, rdb, "clipia:idempotency:*sigstop-1*")
	// Freeze the owner once its handler runs (it has charged the tenant),
	// not while the claim's answer is still on its way to it: an owner
	// that never learnt it holds the claim only times out (503).
	deadline := time.Now().Add(20 * time.Second)
	for balance(t, client, a, "sk_test_full") == before {
		if time.Now().After(deadline) {
			t.Fatal("the first server did not start the generation within 20s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := a.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	_, first, _ := retryUntilRun(t, client, b, req, 20*time.Second)
	if err := a.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	got := <-aDone
	var thawed string
	switch {
	case got.err != nil:
		t.Fatalf("the thawed owner's client: %v", got.err)
	case got.o.Status == http.StatusCreated:
		if load.GenID(got.o.Body) == load.GenID(first.Body) {
			t.Fatalf("both servers answered the same generation %s", load.GenID(first.Body))
		}
		thawed = "finished and answered its own client (" + load.GenID(got.o.Body) + ") but its commit was refused (fencing token)"
	case got.o.Key() == "503 service_unavailable":
		thawed = "found its claim lost: its handler's context was cancelled and its client got 503"
	default:
		t.Fatalf("the thawed owner answered %s, want its own 201 or a 503", got.o.Key())
	}
	o, _, err := load.Do(client, b.URL, req)
	if err != nil || !o.Replayed || !bytes.Equal(o.Body, first.Body) {
		t.Errorf("replay after the stale owner finished: %v %s %s, want the second server's %s", err, o.Key(), o.Body, first.Body)
	}
	rec, _ := rdb.HGetAll(context.Background(), key).Result()
	if !strings.Contains(rec["r"], load.GenID(first.Body)) {
		t.Errorf("record %v does not hold the second server's generation %s", rec, load.GenID(first.Body))
	}
	lostLogged := func() bool {
		l := a.LogText()
		return strings.Contains(l, "response not stored") || strings.Contains(l, "claim lost while the handler ran")
	}
	deadline = time.Now().Add(20 * time.Second)
	for !lostLogged() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !lostLogged() {
		t.Errorf("the stale owner did not log its lost claim")
	}
	a.CheckNoRace(t)
	b.CheckNoRace(t)
	load.WriteResult(t, "frozen.md", fmt.Sprintf("SIGSTOP of the lease holder past its %v lease, SIGCONT after a second server ran the request: the stale owner %s; retries replay the second server's %s.\n",
		lease, thawed, load.GenID(first.Body)))
}
