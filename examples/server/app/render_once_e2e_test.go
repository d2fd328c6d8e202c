package app

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
)

// TestEachFailureLoggedOnce: through the reference server's own logger, a
// failed request of each of the eleven rows, with and without an
// Idempotency-Key, is rendered once and logged once: its access line, and
// one record at Error for a 5xx, none above Info for a 4xx. Before the
// render-once contract, every error sent with a key was rendered a second
// time and logged at Error ("error after response was committed").
func TestEachFailureLoggedOnce(t *testing.T) {
	// s serves through the app's own JSON logger; its generations with the
	// prompt "hold" run until released, so the 409 in progress below does
	// not depend on how fast the machine is.
	held := startHeld(t, func(cfg *Config) { cfg.Rate, cfg.Burst = 1000, 1000 })
	s := &testServer{url: held.url, log: held.log}
	limited := startServer(t, "-work-delay", "1ms", "-rate", "0.01", "-burst", "1")
	const fast = `{"model":"clipia-fast","prompt":"a cat"}`
	const hold = `{"model":"clipia-fast","prompt":"hold"}`

	type tcase struct {
		name   string
		srv    *testServer
		req    req
		status int
		code   string
		before func(idem string) // run before the request, e.g. to occupy the key
	}
	cases := func(idem string) []tcase {
		p := func(key, body string) req { return post(key, body, idem) }
		return []tcase{
			{name: "400", srv: s, req: p("sk_test_full", `{"model":"clipia-fast"}`), status: 400, code: "invalid_request"},
			{name: "401", srv: s, req: p("sk_test_nope", fast), status: 401, code: "invalid_api_key"},
			{name: "402", srv: s, req: p("sk_test_nocredits", fast), status: 402, code: "insufficient_credits"},
			{name: "403", srv: s, req: p("sk_test_readonly", fast), status: 403, code: "insufficient_scope"},
			{name: "404", srv: s, req: p("sk_test_full", `{"model":"clipia-x","prompt":"a"}`), status: 404, code: "not_found"},
			{name: "422", srv: s, req: p("sk_test_full", `{"model":"clipia-fast","prompt":"a","duration":99}`), status: 422, code: "model_input_invalid"},
			{name: "429", srv: limited, req: p("sk_test_full", fast), status: 429, code: "rate_limit_exceeded",
				before: func(string) { do(t, limited.url, post("sk_test_full", fast, "")) }},
			{name: "500", srv: s, req: p("sk_test_full", `{"model":"clipia-faulty","prompt":"a"}`), status: 500, code: "internal_error"},
			{name: "503", srv: s, req: p("sk_test_full", `{"model":"clipia-maintenance","prompt":"a"}`), status: 503, code: "service_unavailable"},
		}
	}
	var all []tcase
	for _, withKey := range []bool{false, true} {
		for i, tc := range cases("") {
			if withKey {
				idem := fmt.Sprintf("once-%d", i)
				tc = cases(idem)[i]
				tc.name += " with a key"
			}
			all = append(all, tc)
		}
	}
	// The two 409s exist only with a key.
	all = append(all,
		tcase{name: "409 reuse", srv: s, req: post("sk_test_other", `{"model":"clipia-fast","prompt":"a dog"}`, "once-reuse"),
			status: 409, code: "idempotency_key_reuse",
			before: func(string) { do(t, s.url, post("sk_test_other", fast, "once-reuse")) }},
		tcase{name: "409 in progress", srv: s, req: post("sk_test_other", hold, "once-busy"),
			status: 409, code: "request_in_progress"},
	)

	var wg sync.WaitGroup
	for i, tc := range all {
		if tc.before != nil {
			tc.before("")
		}
		id := fmt.Sprintf("once-%02d", i)
		r := tc.req
		h := map[string]string{"X-Request-Id": id}
		for k, v := range r.header {
			h[k] = v
		}
		r.header = h
		inProgress := tc.status == 409 && tc.code == "request_in_progress"
		if inProgress {
			// Occupy the key with a first request that runs until released.
			first := post("sk_test_other", hold, "once-busy")
			wg.Add(1)
			go func() { defer wg.Done(); _, _ = send(s.url, first) }()
			held.waitStarted(t) // it has claimed the key and runs
		}
		got := do(t, tc.srv.url, r)
		if inProgress {
			held.release()
		}
		if got.status != tc.status {
			t.Fatalf("%s: got %d %s, want %d", tc.name, got.status, got.body, tc.status)
		}
		var env struct {
			Error struct{ Code string } `json:"error"`
		}
		if err := json.Unmarshal(got.body, &env); err != nil || env.Error.Code != tc.code {
			t.Errorf("%s: got %s, want code %s", tc.name, got.body, tc.code)
		}
		all[i].name = id + " " + tc.name
	}
	wg.Wait()
	// A response can reach the client before its access line is written:
	// wait until every request has one, then count.
	waitFor(t, "an access line for every request", func() bool {
		seen := map[string]bool{}
		for _, srv := range []*testServer{s, limited} {
			for _, l := range srv.log.lines(t) {
				if l.str("msg") == "request" {
					seen[l.str("request_id")] = true
				}
			}
		}
		for i := range all {
			if !seen[fmt.Sprintf("once-%02d", i)] {
				return false
			}
		}
		return true
	})

	for i, tc := range all {
		id := fmt.Sprintf("once-%02d", i)
		var access, errs, other int
		for _, srv := range []*testServer{s, limited} {
			for _, l := range srv.log.lines(t) {
				if l.str("request_id") != id {
					continue
				}
				switch {
				case l.str("msg") == "request":
					access++
				case l.str("level") == "ERROR":
					errs++
				case l.str("level") == "WARN":
					other++
				}
			}
		}
		wantErrs := 0
		if tc.status >= 500 {
			wantErrs = 1
		}
		if access != 1 || errs != wantErrs || other != 0 {
			t.Errorf("%s: got %d access, %d error, %d warn records; want 1, %d, 0", tc.name, access, errs, other, wantErrs)
		}
	}
}
