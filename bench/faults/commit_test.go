package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clipia/apiguard/bench/load"
	"github.com/clipia/apiguard/internal/redistest"
)

// TestRedisBlipDuringCommit is the reported bug, at process level: the
// server runs a 3 s generation with a 10 s lease; 0.5 s after the claim,
// Redis is frozen (SIGSTOP) or killed, and only comes back (SIGCONT, or
// restarted empty) after the server answered. (The generation outlasts the
// blip's start, and the lease the blip, by seconds on a loaded machine.) The client gets its 201 from
// the server while Redis is still down; a duplicate meanwhile gets 409
// request_in_progress; once Redis is back, the retried commit lands and the
// duplicate gets the replay of the same generation: one charge.
func TestRedisBlipDuringCommit(t *testing.T) {
	blips := []struct {
		name       string
		down, back func(t *testing.T, rd *redistest.Server)
	}{
		{"paused", func(t *testing.T, rd *redistest.Server) { rd.Pause(t) }, func(t *testing.T, rd *redistest.Server) { rd.Resume(t) }},
		{"restarted empty", func(t *testing.T, rd *redistest.Server) { rd.Kill() }, func(t *testing.T, rd *redistest.Server) { rd.Restart(t) }},
	}
	var report strings.Builder
	for _, b := range blips {
		t.Run(b.name, func(t *testing.T) {
			rd := redistest.Start(t)
			rdb := rd.Client(t)
			srv := load.StartServer(t, "-redis", "redis://"+rd.Addr+"/0", "-work-delay", "3s", "-lock-ttl", "10s",
				"-rate", "1000", "-burst", "1000", "-credits", "1000")
			client := load.NewHTTPClient(4, 20*time.Second)
			req := load.Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_full",
				Body: load.GenBody("redis blip", 3), Header: map[string]string{"Idempotency-Key": "blip-1"}}

			type answer struct {
				o   load.Outcome
				err error
				at  time.Time
			}
			sent := time.Now()
			firstc := make(chan answer, 1)
			go func() {
				o, _, err := load.Do(client, srv.URL, req)
				firstc <- answer{o, err, time.Now()}
			}()
			waitClaim(t, rdb, "clipia:idempotency:*blip-1*")
			time.Sleep(500 * time.Millisecond)
			b.down(t, rd)

			first := <-firstc // Redis is still down
			if first.err != nil || first.o.Status != http.StatusCreated {
				t.Fatalf("first: %v %s, want 201", first.err, first.o.Key())
			}
			dup, _, err := load.Do(client, srv.URL, req)
			if err != nil || dup.Key() != "409 request_in_progress" || dup.Header.Get("Retry-After") == "" {
				t.Fatalf("duplicate while Redis is down: %v %s (Retry-After %q), want 409 request_in_progress with Retry-After",
					err, dup.Key(), dup.Header.Get("Retry-After"))
			}
			b.back(t, rd)
			backAt := time.Now()

			var replay load.Outcome
			inProgress := 0
			for deadline := time.Now().Add(20 * time.Second); ; {
				o, _, err := load.Do(client, srv.URL, req)
				if err != nil {
					t.Fatalf("retry: %v", err)
				}
				if o.Key() == "409 request_in_progress" && time.Now().Before(deadline) {
					inProgress++
					time.Sleep(50 * time.Millisecond)
					continue
				}
				replay = o
				break
			}
			storedAfter := time.Since(backAt)
			if replay.Status != http.StatusCreated || !replay.Replayed || !bytes.Equal(replay.Body, first.o.Body) {
				t.Fatalf("after Redis came back: %s replayed=%v %s, want the replay of %s\nlog:\n%s", replay.Key(), replay.Replayed, replay.Body, first.o.Body, srv.LogText())
			}
			bal, _, err := load.Do(client, srv.URL, load.Req{Method: "GET", Path: "/v1/balance", APIKey: "sk_test_full"})
			var credits struct{ Credits int64 }
			if err != nil || json.Unmarshal(bal.Body, &credits) != nil || credits.Credits != 1000-3 {
				t.Errorf("balance: %v %s, want 997 (one 3-credit generation)", err, bal.Body)
			}
			if strings.Contains(srv.LogText(), "response not stored") {
				t.Errorf("the server logged a lost response:\n%s", srv.LogText())
			}
			srv.CheckNoRace(t)
			fmt.Fprintf(&report, "- Redis %s 0.5 s into a 3 s generation (-lock-ttl 10s), back after the answer: the client got 201 after %v; a duplicate while Redis was down got 409 request_in_progress; after Redis came back, %d more 409s, then the replay (stored %v after Redis was back); one charge.\n",
				b.name, first.at.Sub(sent).Round(10*time.Millisecond), inProgress, storedAfter.Round(10*time.Millisecond))
		})
	}
	load.WriteResult(t, "commit-blip.md", "### Redis blip during the commit\n\n"+report.String())
}
