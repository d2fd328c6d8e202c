package app

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// generationBody is the success body of POST /v1/generations.
type generationBody struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	Model      string `json:"model"`
	Prompt     string `json:"prompt"`
	Duration   int    `json:"duration"`
	Resolution string `json:"resolution"`
	Cost       int64  `json:"cost"`
	Status     string `json:"status"`
}

// TestReplay checks that the same Idempotency-Key and body twice runs once,
// charges once, and replays the first response byte for byte with
// Idempotent-Replayed: true; that key order and whitespace do not matter;
// that the bare and the quoted (Structured Field) key are the same key; and
// that a stored 4xx is replayed too.
func TestReplay(t *testing.T) {
	s := startServer(t, "-work-delay", "1ms", "-credits", "100")
	first := do(t, s.url, post("sk_test_full", `{"model":"clipia-fast","prompt":"a cat","duration":4}`, "replay-1"))
	if first.status != http.StatusCreated {
		t.Fatalf("first: status %d %s, want 201", first.status, first.body)
	}
	if got := first.header.Get("Idempotent-Replayed"); got != "" {
		t.Errorf("first: Idempotent-Replayed = %q, want none", got)
	}
	g := decode[generationBody](t, first)
	if got, want := balanceOf(t, s.url, "sk_test_full"), int64(96); got != want {
		t.Fatalf("balance after one 4-credit generation = %d, want %d", got, want)
	}

	tests := []struct {
		name string
		key  string
		body string
	}{
		{"same bytes", "replay-1", `{"model":"clipia-fast","prompt":"a cat","duration":4}`},
		{"other key order and spacing", "replay-1", "{ \"duration\": 4,\n \"prompt\": \"a cat\", \"model\": \"clipia-fast\" }"},
		{"quoted Structured Field key", `"replay-1"`, `{"model":"clipia-fast","prompt":"a cat","duration":4}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, s.url, post("sk_test_full", tt.body, tt.key))
			if got.status != http.StatusCreated {
				t.Fatalf("status %d %s, want 201", got.status, got.body)
			}
			if got, want := got.header.Get("Idempotent-Replayed"), "true"; got != want {
				t.Errorf("Idempotent-Replayed = %q, want %q", got, want)
			}
			if !bytes.Equal(got.body, first.body) {
				t.Errorf("replayed body\n%s\nwant byte-identical\n%s", got.body, first.body)
			}
			if got, want := got.header.Get("Location"), "/v1/generations/"+g.ID; got != want {
				t.Errorf("Location = %q, want %q", got, want)
			}
			if got, want := got.header.Get("Content-Type"), first.header.Get("Content-Type"); got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			if got.header.Get("X-Request-Id") == first.header.Get("X-Request-Id") {
				t.Errorf("replay reuses the first X-Request-Id %q; want its own", got.header.Get("X-Request-Id"))
			}
			if got.header.Get("RateLimit") == "" {
				t.Errorf("replay has no RateLimit header of its own")
			}
		})
	}
	if got, want := balanceOf(t, s.url, "sk_test_full"), int64(96); got != want {
		t.Errorf("balance after replays = %d, want %d (charged once)", got, want)
	}

	t.Run("stored 4xx is replayed", func(t *testing.T) {
		a := do(t, s.url, post("sk_test_full", `{"model":"clipia-fast","prompt":""}`, "replay-400"))
		b := do(t, s.url, post("sk_test_full", `{"model":"clipia-fast","prompt":""}`, "replay-400"))
		checkError(t, a, errorWant{row: rowInvalidRequest, param: "prompt"})
		if b.status != http.StatusBadRequest || b.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(a.body, b.body) {
			t.Errorf("second: status %d, Idempotent-Replayed %q, body %s; want 400, true, %s",
				b.status, b.header.Get("Idempotent-Replayed"), b.body, a.body)
		}
		if got, want := b.header.Get("X-Should-Retry"), "false"; got != want {
			t.Errorf("replayed 400: X-Should-Retry = %q, want %q", got, want)
		}
	})

	t.Run("5xx is not stored", func(t *testing.T) {
		for range 2 {
			got := do(t, s.url, post("sk_test_full", `{"model":"clipia-faulty","prompt":"x"}`, "replay-500"))
			checkError(t, got, errorWant{row: rowInternal}) // no Idempotent-Replayed either time
		}
	})
}

// TestReplayNeedsNoCredits checks that a replay is answered before the
// credit check: the generation that spent the last credit is still replayed
// (not 402), while a new request is refused.
func TestReplayNeedsNoCredits(t *testing.T) {
	s := startServer(t, "-work-delay", "1ms", "-credits", "5")
	body := `{"model":"clipia-fast","prompt":"last credits","duration":5}`
	first := do(t, s.url, post("sk_test_other", body, "spend-all"))
	if first.status != http.StatusCreated {
		t.Fatalf("first: %d %s, want 201", first.status, first.body)
	}
	replay := do(t, s.url, post("sk_test_other", body, "spend-all"))
	if replay.status != http.StatusCreated || replay.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(replay.body, first.body) {
		t.Errorf("replay at balance 0: %d, Idempotent-Replayed %q, %s; want the 201 replayed", replay.status, replay.header.Get("Idempotent-Replayed"), replay.body)
	}
	checkError(t, do(t, s.url, post("sk_test_other", body, "spend-more")), errorWant{row: rowInsufficientCredits})
	if got := balanceOf(t, s.url, "sk_test_other"); got != 0 {
		t.Errorf("balance %d, want 0", got)
	}
}

// TestIdempotencyConflicts reaches both 409 rows: a changed body under a used
// key (idempotency_key_reuse, not retryable, also while the first still
// runs) and the same body while the first still runs (request_in_progress,
// retryable, Retry-After).
func TestIdempotencyConflicts(t *testing.T) {
	s := startHeld(t, nil)
	body := `{"model":"clipia-fast","prompt":"hold"}`
	// Two identical requests at once: one runs until released, the other
	// is refused at once as in progress; which one wins does not matter.
	results := make(chan resp, 2)
	for range 2 {
		go func() {
			r, err := send(s.url, post("sk_test_full", body, "conflict-1"))
			if err != nil {
				t.Errorf("request: %v", err)
			}
			results <- r
		}()
	}
	s.waitStarted(t)
	inProgress := <-results
	checkError(t, inProgress, errorWant{row: rowInProgress, retryAfter: "1"})

	// The winner still runs: a changed body gets the non-retryable reuse
	// error, never "retry later".
	reuse := do(t, s.url, post("sk_test_full", `{"model":"clipia-fast","prompt":"changed"}`, "conflict-1"))
	checkError(t, reuse, errorWant{row: rowKeyReuse})
	again := do(t, s.url, post("sk_test_full", body, "conflict-1"))
	checkError(t, again, errorWant{row: rowInProgress, retryAfter: "1"})

	s.release()
	first := <-results
	if first.status != http.StatusCreated {
		t.Fatalf("first: status %d %s, want 201", first.status, first.body)
	}
	reuse = do(t, s.url, post("sk_test_full", `{"model":"clipia-fast","prompt":"changed"}`, "conflict-1"))
	checkError(t, reuse, errorWant{row: rowKeyReuse})
	replay := do(t, s.url, post("sk_test_full", body, "conflict-1"))
	if replay.status != http.StatusCreated || replay.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(replay.body, first.body) {
		t.Errorf("after the first finished: status %d, Idempotent-Replayed %q, body %s; want 201, true, %s",
			replay.status, replay.header.Get("Idempotent-Replayed"), replay.body, first.body)
	}
}

// TestConcurrentDuplicates sends 50 identical requests with one key at once:
// the handler runs once, credits are charged once, every other answer is a
// byte-identical replay or 409 request_in_progress.
func TestConcurrentDuplicates(t *testing.T) {
	const n = 50
	s := startServer(t, "-work-delay", "300ms", "-rate", "1000", "-burst", "1000", "-credits", "100")
	body := `{"model":"clipia-pro","prompt":"one of fifty","duration":2}` // 10 credits
	results := make([]resp, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := send(s.url, post("sk_test_full", body, "fifty"))
			if err != nil {
				t.Errorf("request %d: %v", i, err)
			}
			results[i] = r
		}()
	}
	close(start)
	wg.Wait()

	var created []resp
	replayed, inProgress := 0, 0
	for i, r := range results {
		switch {
		case r.status == http.StatusCreated && r.header.Get("Idempotent-Replayed") == "":
			created = append(created, r)
		case r.status == http.StatusCreated:
			replayed++
		case r.status == http.StatusConflict:
			checkError(t, r, errorWant{row: rowInProgress, retryAfter: "1"})
			inProgress++
		default:
			t.Errorf("request %d: status %d %s, want 201 or 409", i, r.status, r.body)
		}
	}
	if len(created) != 1 {
		t.Fatalf("%d requests ran the handler, want exactly 1 (replayed %d, in progress %d)", len(created), replayed, inProgress)
	}
	for i, r := range results {
		if r.status == http.StatusCreated && !bytes.Equal(r.body, created[0].body) {
			t.Errorf("request %d: body %s, want %s", i, r.body, created[0].body)
		}
	}
	t.Logf("1 created, %d replayed, %d in progress", replayed, inProgress)
	if got, want := balanceOf(t, s.url, "sk_test_full"), int64(90); got != want {
		t.Errorf("balance = %d, want %d: charged once", got, want)
	}
	g := decode[generationBody](t, created[0])
	if got := do(t, s.url, req{path: "/v1/generations/" + g.ID, key: "sk_test_full"}); got.status != http.StatusOK {
		t.Errorf("GET the generation: %d %s, want 200", got.status, got.body)
	}
}

// TestNoOverspend runs concurrent distinct generations of one tenant against
// a balance that covers only some of them: exactly floor(credits/cost)
// succeed, the rest answer 402, and the balance never goes below zero.
func TestNoOverspend(t *testing.T) {
	tests := []struct {
		name        string
		credits     int64
		n           int
		body        string
		cost        int64
		wantCreated int
	}{
		{"12 credits, 10 x 5", 12, 10, `{"model":"clipia-fast","prompt":"p","duration":5}`, 5, 2},
		{"100 credits, 20 x 30", 100, 20, `{"model":"clipia-pro","prompt":"p","duration":6}`, 30, 3},
		{"exact fit 40 credits, 8 x 10", 40, 8, `{"model":"clipia-fast","prompt":"p","duration":10}`, 10, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, "-work-delay", "100ms", "-rate", "1000", "-burst", "1000",
				"-credits", strconv.FormatInt(tt.credits, 10))
			var wg sync.WaitGroup
			var mu sync.Mutex
			codes := map[int]int{}
			start := make(chan struct{})
			for i := range tt.n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					// Distinct requests: half with their own Idempotency-Key, half without.
					key := ""
					if i%2 == 0 {
						key = fmt.Sprintf("spend-%d", i)
					}
					r, err := send(s.url, post("sk_test_full", tt.body, key))
					if err != nil {
						t.Errorf("request %d: %v", i, err)
						return
					}
					if r.status == http.StatusPaymentRequired {
						checkError(t, r, errorWant{row: rowInsufficientCredits})
					}
					mu.Lock()
					codes[r.status]++
					mu.Unlock()
				}()
			}
			close(start)
			wg.Wait()
			want := map[int]int{http.StatusCreated: tt.wantCreated, http.StatusPaymentRequired: tt.n - tt.wantCreated}
			if fmt.Sprint(codes) != fmt.Sprint(want) {
				t.Errorf("statuses %v, want %v", codes, want)
			}
			if got, want := balanceOf(t, s.url, "sk_test_full"), tt.credits-int64(tt.wantCreated)*tt.cost; got != want {
				t.Errorf("balance = %d, want %d", got, want)
			}
		})
	}
}

// TestTenantIsolation checks that one tenant cannot read another's
// generation (404, exactly like an unknown id), that keys of one tenant share
// its generations, and that the same Idempotency-Key used by two tenants
// runs twice.
func TestTenantIsolation(t *testing.T) {
	s := startServer(t, "-work-delay", "1ms", "-credits", "50")
	body := `{"model":"clipia-fast","prompt":"shared key","duration":2}`
	acme := do(t, s.url, post("sk_test_full", body, "same-key"))
	globex := do(t, s.url, post("sk_test_other", body, "same-key"))
	for name, r := range map[string]resp{"acme": acme, "globex": globex} {
		if r.status != http.StatusCreated || r.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("%s: status %d, Idempotent-Replayed %q; want 201 run, not replayed", name, r.status, r.header.Get("Idempotent-Replayed"))
		}
	}
	ga, gg := decode[generationBody](t, acme), decode[generationBody](t, globex)
	if ga.ID == gg.ID {
		t.Errorf("both tenants got generation %s, want two", ga.ID)
	}
	for _, key := range []string{"sk_test_full", "sk_test_other"} {
		if got, want := balanceOf(t, s.url, key), int64(48); got != want {
			t.Errorf("%s: balance %d, want %d (each tenant charged once)", key, got, want)
		}
	}

	unknown := do(t, s.url, req{path: "/v1/generations/gen_00000000-0000-0000-0000-000000000000", key: "sk_test_other"})
	tests := []struct {
		name   string
		key    string
		id     string
		status int
	}{
		{"acme reads its own", "sk_test_full", ga.ID, http.StatusOK},
		{"acme read-only key reads acme's", "sk_test_readonly", ga.ID, http.StatusOK},
		{"globex reads acme's", "sk_test_other", ga.ID, http.StatusNotFound},
		{"acme reads globex's", "sk_test_full", gg.ID, http.StatusNotFound},
		{"initech reads acme's", "sk_test_nocredits", ga.ID, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, s.url, req{path: "/v1/generations/" + tt.id, key: tt.key})
			if got.status != tt.status {
				t.Fatalf("status %d %s, want %d", got.status, got.body, tt.status)
			}
			if tt.status == http.StatusNotFound {
				checkError(t, got, errorWant{row: rowNotFound})
				if !bytes.Equal(got.body, unknown.body) {
					t.Errorf("body %s, want the same as for an unknown id: %s", got.body, unknown.body)
				}
				return
			}
			if g := decode[generationBody](t, got); g != ga {
				t.Errorf("got %+v, want %+v", g, ga)
			}
		})
	}
}

// TestIdempotencyKeyRunsAgainAfterCancel checks that a request abandoned by
// its client is not stored: the same key runs again (and the abandoned one
// is not charged).
//
// The abandoned generation (prompt "hold") runs until its client goes, so
// the client certainly leaves while it runs, however loaded the machine is.
func TestIdempotencyKeyRunsAgainAfterCancel(t *testing.T) {
	// A high rate limit: the waits below poll with the same API key.
	s := startHeld(t, func(cfg *Config) { cfg.Credits, cfg.Rate, cfg.Burst = 100, 1000, 1000 })
	body := `{"model":"clipia-fast","prompt":"hold","duration":1}`
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hr, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/v1/generations", strings.NewReader(body))
	hr.Header.Set("Authorization", "Bearer sk_test_full")
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Idempotency-Key", "cancelled")
	errc := make(chan error, 1)
	go func() {
		res, err := client.Do(hr)
		if err == nil {
			res.Body.Close()
			err = fmt.Errorf("the abandoned request finished: %d", res.StatusCode)
		} else {
			err = nil
		}
		errc <- err
	}()
	s.waitStarted(t) // claimed, credits reserved, the generation runs
	cancel()         // the client goes away
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// The held generation returns its context's error once the server has
	// seen the client go: its credits come back.
	waitFor(t, "the abandoned generation's refund", func() bool { return balanceOf(t, s.url, "sk_test_full") == 100 })
	s.release() // the retry below runs at once

	var got resp
	waitFor(t, "the key to be released", func() bool {
		got = do(t, s.url, post("sk_test_full", body, "cancelled"))
		return got.status != http.StatusConflict
	})
	if got.status != http.StatusCreated || got.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("retry: status %d, Idempotent-Replayed %q; want 201 run again", got.status, got.header.Get("Idempotent-Replayed"))
	}
	if got, want := balanceOf(t, s.url, "sk_test_full"), int64(99); got != want {
		t.Errorf("balance = %d, want %d (the cancelled run refunded)", got, want)
	}
}
