package app

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// row is one line of the contract's table (docs/errors.md, "The table of codes").
type row struct {
	status    int
	code      string
	typ       string
	retryable bool
}

var (
	rowInvalidRequest      = row{400, "invalid_request", "invalid_request_error", false}
	rowInvalidAPIKey       = row{401, "invalid_api_key", "authentication_error", false}
	rowInsufficientCredits = row{402, "insufficient_credits", "invalid_request_error", false}
	rowInsufficientScope   = row{403, "insufficient_scope", "permission_error", false}
	rowNotFound            = row{404, "not_found", "invalid_request_error", false}
	rowKeyReuse            = row{409, "idempotency_key_reuse", "idempotency_error", false}
	rowInProgress          = row{409, "request_in_progress", "idempotency_error", true}
	rowModelInputInvalid   = row{422, "model_input_invalid", "invalid_request_error", false}
	rowRateLimited         = row{429, "rate_limit_exceeded", "rate_limit_error", true}
	rowInternal            = row{500, "internal_error", "api_error", true}
	rowUnavailable         = row{503, "service_unavailable", "api_error", true}
)

// errorWant is what a test expects of one error response.
type errorWant struct {
	row        row
	param      string // "" means no param member at all
	retryAfter string // "" means no Retry-After header
	wwwAuth    string // "" means no WWW-Authenticate header
}

// checkError asserts every part of an error response a client can see:
// status, the exact envelope with type, code, param and a message,
// X-Should-Retry, Retry-After and WWW-Authenticate.
func checkError(t testing.TB, got resp, want errorWant) apiError {
	t.Helper()
	if got.status != want.row.status {
		t.Fatalf("status = %d, want %d (body %s)", got.status, want.row.status, got.body)
	}
	e := envelope(t, got, want.param != "")
	if e.Code != want.row.code || e.Type != want.row.typ || e.Param != want.param {
		t.Errorf("got code %q type %q param %q, want %q %q %q (message %q)",
			e.Code, e.Type, e.Param, want.row.code, want.row.typ, want.param, e.Message)
	}
	if got, want := got.header.Get("X-Should-Retry"), fmt.Sprint(want.row.retryable); got != want {
		t.Errorf("X-Should-Retry = %q, want %q", got, want)
	}
	if got, want := strings.Join(got.header.Values("Retry-After"), ","), want.retryAfter; got != want {
		t.Errorf("Retry-After = %q, want %q", got, want)
	}
	if got, want := strings.Join(got.header.Values("WWW-Authenticate"), ","), want.wwwAuth; got != want {
		t.Errorf("WWW-Authenticate = %q, want %q", got, want)
	}
	if got.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("Idempotent-Replayed = %q on a first response, want none", got.header.Get("Idempotent-Replayed"))
	}
	return e
}

const (
	challenge      = `Bearer realm="api"`
	challengeToken = `Bearer realm="api", error="invalid_token"`
	okBody         = `{"model":"clipia-fast","prompt":"a cat on a skateboard"}`
)

// TestErrorRows reaches the rows of the table that one request can reach,
// through the routes, exactly as examples/server/README.md describes them, including
// the check order (auth → rate limit → scope → idempotency → validation →
// credits → model state). The 409, 429 and 500 rows have tests of their own.
func TestErrorRows(t *testing.T) {
	s := startServer(t, "-work-delay", "1ms", "-rate", "1000", "-burst", "1000")
	long := strings.Repeat("a", 4001)
	tests := []struct {
		name string
		req  req
		want errorWant
	}{
		// 400 invalid_request
		{"malformed JSON", post("sk_test_full", `{"model":`, ""), errorWant{row: rowInvalidRequest}},
		{"trailing data after JSON", post("sk_test_full", okBody+` {}`, ""), errorWant{row: rowInvalidRequest}},
		{"body is an array", post("sk_test_full", `[]`, ""), errorWant{row: rowInvalidRequest}},
		{"empty body", req{method: "POST", path: "/v1/generations", key: "sk_test_full", header: map[string]string{"Content-Type": "application/json"}}, errorWant{row: rowInvalidRequest}},
		{"missing prompt", post("sk_test_full", `{"model":"clipia-fast"}`, ""), errorWant{row: rowInvalidRequest, param: "prompt"}},
		{"empty prompt", post("sk_test_full", `{"model":"clipia-fast","prompt":""}`, ""), errorWant{row: rowInvalidRequest, param: "prompt"}},
		{"prompt of 4001 chars", post("sk_test_full", `{"model":"clipia-fast","prompt":"`+long+`"}`, ""), errorWant{row: rowInvalidRequest, param: "prompt"}},
		{"missing model", post("sk_test_full", `{"prompt":"x"}`, ""), errorWant{row: rowInvalidRequest, param: "model"}},
		{"duration 0", post("sk_test_full", `{"model":"clipia-fast","prompt":"x","duration":0}`, ""), errorWant{row: rowInvalidRequest, param: "duration"}},
		{"duration negative", post("sk_test_full", `{"model":"clipia-fast","prompt":"x","duration":-3}`, ""), errorWant{row: rowInvalidRequest, param: "duration"}},
		{"duration is a string", post("sk_test_full", `{"model":"clipia-fast","prompt":"x","duration":"5"}`, ""), errorWant{row: rowInvalidRequest, param: "duration"}},
		{"duration is fractional", post("sk_test_full", `{"model":"clipia-fast","prompt":"x","duration":2.5}`, ""), errorWant{row: rowInvalidRequest, param: "duration"}},
		{"prompt is a number", post("sk_test_full", `{"model":"clipia-fast","prompt":5}`, ""), errorWant{row: rowInvalidRequest, param: "prompt"}},
		{"Idempotency-Key not ASCII", post("sk_test_full", okBody, "clé"), errorWant{row: rowInvalidRequest, param: "Idempotency-Key"}},
		{"Idempotency-Key empty", req{method: "POST", path: "/v1/generations", key: "sk_test_full", body: okBody, header: map[string]string{"Idempotency-Key": ""}}, errorWant{row: rowInvalidRequest, param: "Idempotency-Key"}},
		{"Idempotency-Key of 256 chars", post("sk_test_full", okBody, strings.Repeat("k", 256)), errorWant{row: rowInvalidRequest, param: "Idempotency-Key"}},
		{"body over 1 MiB", post("sk_test_full", `{"model":"clipia-fast","prompt":"`+strings.Repeat("a", 2<<20)+`"}`, ""), errorWant{row: rowInvalidRequest}},
		{"body over 1 MiB with Idempotency-Key", post("sk_test_full", `{"model":"clipia-fast","prompt":"`+strings.Repeat("a", 2<<20)+`"}`, "big"), errorWant{row: rowInvalidRequest}},
		{"Content-Type text/plain", req{method: "POST", path: "/v1/generations", key: "sk_test_full", body: okBody, header: map[string]string{"Content-Type": "text/plain"}}, errorWant{row: rowInvalidRequest}},
		{"no Content-Type", req{method: "POST", path: "/v1/generations", key: "sk_test_full", body: okBody, header: map[string]string{"Content-Type": "\x00"}}, errorWant{row: rowInvalidRequest}},

		// 401 invalid_api_key
		{"no key", req{path: "/v1/models"}, errorWant{row: rowInvalidAPIKey, wwwAuth: challenge}},
		{"no key on POST", req{method: "POST", path: "/v1/generations", body: okBody}, errorWant{row: rowInvalidAPIKey, wwwAuth: challenge}},
		{"unknown key", req{path: "/v1/models", key: "sk_test_nosuchkey"}, errorWant{row: rowInvalidAPIKey, wwwAuth: challengeToken}},
		{"revoked key", req{path: "/v1/models", key: "sk_test_revoked"}, errorWant{row: rowInvalidAPIKey, wwwAuth: challengeToken}},
		{"revoked key on POST", post("sk_test_revoked", okBody, ""), errorWant{row: rowInvalidAPIKey, wwwAuth: challengeToken}},
		{"Basic credentials", req{path: "/v1/balance", header: map[string]string{"Authorization": "Basic c2tfdGVzdF9mdWxsOg=="}}, errorWant{row: rowInvalidAPIKey, wwwAuth: challengeToken}},
		{"unknown route under /v1 without key is a 404, not a 401", req{path: "/v1/nope"}, errorWant{row: rowNotFound}},

		// 402 insufficient_credits
		{"no credits", post("sk_test_nocredits", okBody, ""), errorWant{row: rowInsufficientCredits}},

		// 403 insufficient_scope
		{"read-only key on POST", post("sk_test_readonly", okBody, ""), errorWant{row: rowInsufficientScope}},

		// 404 not_found
		{"unknown route", req{path: "/nope"}, errorWant{row: rowNotFound}},
		{"unknown route under /v1", req{path: "/v1/nope", key: "sk_test_full"}, errorWant{row: rowNotFound}},
		{"wrong method", req{method: "DELETE", path: "/v1/generations", key: "sk_test_full"}, errorWant{row: rowNotFound}},
		{"unknown generation id", req{path: "/v1/generations/gen_00000000-0000-0000-0000-000000000000", key: "sk_test_full"}, errorWant{row: rowNotFound}},
		{"unknown model id", req{path: "/v1/models/clipia-nope", key: "sk_test_full"}, errorWant{row: rowNotFound}},
		{"unknown model in a generation", post("sk_test_full", `{"model":"clipia-nope","prompt":"x"}`, ""), errorWant{row: rowNotFound, param: "model"}},

		// 422 model_input_invalid
		{"duration over clipia-fast max", post("sk_test_full", `{"model":"clipia-fast","prompt":"x","duration":11}`, ""), errorWant{row: rowModelInputInvalid, param: "duration"}},
		{"duration over clipia-pro max", post("sk_test_full", `{"model":"clipia-pro","prompt":"x","duration":61}`, ""), errorWant{row: rowModelInputInvalid, param: "duration"}},
		{"resolution clipia-fast lacks", post("sk_test_full", `{"model":"clipia-fast","prompt":"x","resolution":"4k"}`, ""), errorWant{row: rowModelInputInvalid, param: "resolution"}},
		{"resolution unknown everywhere", post("sk_test_full", `{"model":"clipia-pro","prompt":"x","resolution":"8k"}`, ""), errorWant{row: rowModelInputInvalid, param: "resolution"}},

		// 503 service_unavailable
		{"model in maintenance", post("sk_test_full", `{"model":"clipia-maintenance","prompt":"x"}`, ""), errorWant{row: rowUnavailable, retryAfter: "1"}},

		// Check order: the earlier check answers when several fail.
		{"order: 401 before 400", post("sk_test_revoked", `{"model":`, ""), errorWant{row: rowInvalidAPIKey, wwwAuth: challengeToken}},
		{"order: 403 before 400", post("sk_test_readonly", `{"model":`, ""), errorWant{row: rowInsufficientScope}},
		{"order: 403 before bad Idempotency-Key", post("sk_test_readonly", okBody, "clé"), errorWant{row: rowInsufficientScope}},
		{"order: bad Idempotency-Key before body", post("sk_test_full", `{"model":`, "clé"), errorWant{row: rowInvalidRequest, param: "Idempotency-Key"}},
		{"order: 400 before 404 model", post("sk_test_full", `{"model":"clipia-nope","prompt":"x","duration":0}`, ""), errorWant{row: rowInvalidRequest, param: "duration"}},
		{"order: 400 before 422", post("sk_test_full", `{"model":"clipia-fast","duration":11}`, ""), errorWant{row: rowInvalidRequest, param: "prompt"}},
		{"order: 404 model before 402", post("sk_test_nocredits", `{"model":"clipia-nope","prompt":"x"}`, ""), errorWant{row: rowNotFound, param: "model"}},
		{"order: 422 before 402", post("sk_test_nocredits", `{"model":"clipia-fast","prompt":"x","duration":11}`, ""), errorWant{row: rowModelInputInvalid, param: "duration"}},
		{"order: 402 before 503", post("sk_test_nocredits", `{"model":"clipia-maintenance","prompt":"x"}`, ""), errorWant{row: rowInsufficientCredits}},
		{"order: 402 before 500", post("sk_test_nocredits", `{"model":"clipia-faulty","prompt":"x"}`, ""), errorWant{row: rowInsufficientCredits}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.req
			id := fmt.Sprintf("e2e-row-%d", i)
			h := map[string]string{"X-Request-Id": id}
			for k, v := range r.header {
				h[k] = v
			}
			r.header = h
			got := do(t, s.url, r)
			e := checkError(t, got, tt.want)
			if got, want := got.header.Get("X-Request-Id"), id; got != want {
				t.Errorf("X-Request-Id = %q, want the sane incoming %q", got, want)
			}
			if got, want := got.header.Get("Request-Id"), id; got != want {
				t.Errorf("Request-Id = %q, want %q", got, want)
			}
			if tt.want.row == rowInsufficientScope && !strings.Contains(e.Message, "generations:write") {
				t.Errorf("403 message %q does not name the missing scope generations:write", e.Message)
			}
		})
	}
}

// TestUnauthorisedMessageIsTheSame checks that missing, unknown, malformed
// and revoked keys cannot be told apart by their body.
func TestUnauthorisedMessageIsTheSame(t *testing.T) {
	s := startServer(t)
	var first []byte
	for _, key := range []string{"", "sk_test_nosuchkey", "sk_test_revoked", "not a key at all"} {
		got := do(t, s.url, req{path: "/v1/models", key: key})
		if got.status != http.StatusUnauthorized {
			t.Fatalf("key %q: status %d, want 401", key, got.status)
		}
		if first == nil {
			first = got.body
		} else if string(got.body) != string(first) {
			t.Errorf("key %q: body %s, want the same as for no key: %s", key, got.body, first)
		}
	}
}

// TestRequestIDs checks that X-Request-Id is kept when it is a sane token
// and replaced by a new UUID otherwise, on successes and errors alike.
func TestRequestIDs(t *testing.T) {
	s := startServer(t, "-work-delay", "1ms", "-rate", "1000", "-burst", "1000")
	tests := []struct {
		name     string
		incoming string // "\x00": none sent
		keep     bool
	}{
		{"none", "\x00", false},
		{"sane token", "req_01HZX-abc.def:1/2+3=4@x", true},
		{"128 chars", strings.Repeat("a", 128), true},
		{"129 chars", strings.Repeat("a", 129), false},
		{"spaces", "my request id", false},
		{"quote", `a"b`, false},
		{"non-ASCII", "réq", false},
		{"empty", "", false},
	}
	routes := []req{
		{path: "/healthz"},
		{path: "/v1/models", key: "sk_test_full"},
		{path: "/v1/models"}, // 401
		{path: "/nope"},      // 404 from the router
		post("sk_test_full", `{"model":"clipia-faulty","prompt":"x"}`, ""), // 500
	}
	for _, tt := range tests {
		for _, r := range routes {
			t.Run(tt.name+" "+r.path, func(t *testing.T) {
				r.header = map[string]string{"X-Request-Id": tt.incoming}
				got := do(t, s.url, r)
				id := got.header.Get("X-Request-Id")
				switch {
				case tt.keep && id != tt.incoming:
					t.Errorf("status %d: X-Request-Id = %q, want %q kept", got.status, id, tt.incoming)
				case !tt.keep && !uuidRE.MatchString(id):
					t.Errorf("status %d: X-Request-Id = %q, want a new UUID", got.status, id)
				}
				if got := got.header.Get("Request-Id"); got != id {
					t.Errorf("Request-Id = %q, want %q (same as X-Request-Id)", got, id)
				}
			})
		}
	}
}

// TestHeadGetsNoBody checks that a HEAD request on an error gets the status
// and headers of the envelope, but no body.
func TestHeadGetsNoBody(t *testing.T) {
	s := startServer(t)
	got := do(t, s.url, req{method: http.MethodHead, path: "/v1/models/clipia-nope", key: "sk_test_full"})
	if got.status != http.StatusNotFound || len(got.body) != 0 {
		t.Errorf("HEAD: status %d, body %q; want 404 and no body", got.status, got.body)
	}
	if got, want := got.header.Get("X-Should-Retry"), "false"; got != want {
		t.Errorf("X-Should-Retry = %q, want %q", got, want)
	}
}

// TestInternalErrorIsSanitised checks the 500 row: the handler's error names
// a database address; the client sees only the generic message, the log has
// the cause with the request id, and no credits are taken.
func TestInternalErrorIsSanitised(t *testing.T) {
	s := startServer(t, "-work-delay", "1ms")
	before := balanceOf(t, s.url, "sk_test_full")
	r := post("sk_test_full", `{"model":"clipia-faulty","prompt":"x"}`, "")
	r.header = map[string]string{"X-Request-Id": "e2e-faulty"}
	got := do(t, s.url, r)
	checkError(t, got, errorWant{row: rowInternal})
	for _, leak := range []string{"10.20.30.40", "5432", "db-primary", "dial tcp", "refused", "render queue", ".go:"} {
		if strings.Contains(string(got.body), leak) || strings.Contains(fmt.Sprint(got.header), leak) {
			t.Errorf("response leaks %q: %v %s", leak, got.header, got.body)
		}
	}
	waitFor(t, "the 500 in the log", func() bool { return strings.Contains(s.log.String(), "10.20.30.40") })
	found := false
	for _, l := range s.log.lines(t) {
		if strings.Contains(l.str("error"), "10.20.30.40:5432") {
			found = true
			if l.str("request_id") != "e2e-faulty" || l.str("level") != "ERROR" {
				t.Errorf("log line with the cause = %v, want level ERROR and request_id e2e-faulty", l)
			}
		}
	}
	if !found {
		t.Errorf("no log line carries the cause with the address:\n%s", s.log)
	}
	if after := balanceOf(t, s.url, "sk_test_full"); after != before {
		t.Errorf("balance after a 500 = %d, want %d unchanged", after, before)
	}
}

// TestFailuresDoNotCharge checks that only a 201 takes credits: errors after
// the credit check (503, 500) give the reservation back.
func TestFailuresDoNotCharge(t *testing.T) {
	s := startServer(t, "-work-delay", "1ms", "-credits", "100")
	for _, model := range []string{"clipia-maintenance", "clipia-faulty"} {
		got := do(t, s.url, post("sk_test_other", `{"model":"`+model+`","prompt":"x"}`, ""))
		if got.status < 500 {
			t.Fatalf("%s: status %d, want 5xx", model, got.status)
		}
	}
	if got, want := balanceOf(t, s.url, "sk_test_other"), int64(100); got != want {
		t.Errorf("balance after 503 and 500 = %d, want %d", got, want)
	}
	got := do(t, s.url, post("sk_test_other", `{"model":"clipia-pro","prompt":"x","duration":3}`, ""))
	if got.status != http.StatusCreated {
		t.Fatalf("status %d %s, want 201", got.status, got.body)
	}
	if got, want := balanceOf(t, s.url, "sk_test_other"), int64(100-3*5); got != want {
		t.Errorf("balance after a 3 s clipia-pro generation = %d, want %d", got, want)
	}
}
