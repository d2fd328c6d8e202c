package app

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestLog checks the server's log: JSON lines; the demo keys printed on
// start; one "request" line per request with request_id, key_id, method,
// route, status and latency_ms; and no API key text anywhere except the demo
// key lines (a key a client sends is never logged, valid or not).
func TestLog(t *testing.T) {
	s := startServer(t, "-work-delay", "1ms")
	const secret = "sk_live_do-not-log-me-4242"
	tests := []struct {
		name      string
		req       req
		wantKeyID string
		wantRoute string
		status    int
	}{
		{"healthz", req{path: "/healthz"}, "", "/healthz", 200},
		{"models", req{path: "/v1/models", key: "sk_test_full"}, "key_full", "/v1/models", 200},
		{"model by id", req{path: "/v1/models/clipia-pro", key: "sk_test_other"}, "key_other", "/v1/models/{id}", 200},
		{"balance", req{path: "/v1/balance", key: "sk_test_readonly"}, "key_readonly", "/v1/balance", 200},
		{"generation", post("sk_test_full", okBody, "log-1"), "key_full", "/v1/generations", 201},
		{"replay", post("sk_test_full", okBody, "log-1"), "key_full", "/v1/generations", 201},
		{"no key", req{path: "/v1/models"}, "", "/v1/models", 401},
		{"unknown key", req{path: "/v1/models", key: secret}, "", "/v1/models", 401},
		{"revoked key", req{path: "/v1/models", key: "sk_test_revoked"}, "", "/v1/models", 401},
		{"403", post("sk_test_readonly", okBody, ""), "key_readonly", "/v1/generations", 403},
		{"402", post("sk_test_nocredits", okBody, ""), "key_nocredits", "/v1/generations", 402},
		{"422", post("sk_test_full", `{"model":"clipia-fast","prompt":"x","duration":99}`, ""), "key_full", "/v1/generations", 422},
		{"500", post("sk_test_full", `{"model":"clipia-faulty","prompt":"x"}`, ""), "key_full", "/v1/generations", 500},
		{"503", post("sk_test_full", `{"model":"clipia-maintenance","prompt":"x"}`, ""), "key_full", "/v1/generations", 503},
		{"unknown generation", req{path: "/v1/generations/gen_x", key: "sk_test_other"}, "key_other", "/v1/generations/{id}", 404},
		// Answered before any route or key: logged all the same.
		{"unknown route", req{path: "/v1/nope", key: "sk_test_full"}, "", "", 404},
		{"odd path", req{path: "//v1/models", key: "sk_test_full"}, "", "", 404},
	}
	for i, tt := range tests {
		r := tt.req
		id := fmt.Sprintf("e2e-log-%d", i)
		r.header = map[string]string{"X-Request-Id": id}
		if v, ok := tt.req.header["Idempotency-Key"]; ok {
			r.header["Idempotency-Key"] = v
		}
		if got := do(t, s.url, r); got.status != tt.status {
			t.Fatalf("%s: status %d %s, want %d", tt.name, got.status, got.body, tt.status)
		}
	}
	// A success is logged after its response is written: wait for the last.
	waitFor(t, "a request line for every request", func() bool {
		n := 0
		for _, l := range s.log.lines(t) {
			if l.str("msg") == "request" && strings.HasPrefix(l.str("request_id"), "e2e-log-") {
				n++
			}
		}
		return n >= len(tests)
	})
	lines := s.log.lines(t)

	t.Run("demo keys printed on start", func(t *testing.T) {
		got := map[string]string{}
		for _, l := range lines {
			if l.str("msg") == "demo API key" {
				got[l.str("key")] = l.str("key_id") + " " + l.str("tenant") + " " + l.str("state")
			}
		}
		want := map[string]string{
			"sk_test_full": "key_full acme active", "sk_test_other": "key_other globex active",
			"sk_test_readonly": "key_readonly acme active", "sk_test_nocredits": "key_nocredits initech active",
			"sk_test_revoked": "key_revoked acme revoked",
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("demo keys logged %v, want %v", got, want)
		}
	})

	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("e2e-log-%d", i)
			var mine []logLine
			for _, l := range lines {
				if l.str("msg") == "request" && l.str("request_id") == id {
					mine = append(mine, l)
				}
			}
			if len(mine) != 1 {
				t.Fatalf("%d request lines for %s, want 1", len(mine), id)
			}
			l := mine[0]
			if got := l.str("key_id"); got != tt.wantKeyID {
				t.Errorf("key_id = %q, want %q", got, tt.wantKeyID)
			}
			if got := l.str("route"); got != tt.wantRoute {
				t.Errorf("route = %q, want %q", got, tt.wantRoute)
			}
			if got, want := l.str("method"), map[bool]string{true: "POST", false: "GET"}[tt.req.method == http.MethodPost]; got != want {
				t.Errorf("method = %q, want %q", got, want)
			}
			if got, ok := l["status"].(float64); !ok || int(got) != tt.status {
				t.Errorf("status = %v, want %d", l["status"], tt.status)
			}
			// latency_ms is milliseconds with at most 3 decimals (a person
			// reads 0.346, not 346026 nanoseconds).
			if got, ok := l["latency_ms"].(float64); !ok || got <= 0 || got > 60_000 {
				t.Errorf("latency_ms = %v, want a positive number of milliseconds", l["latency_ms"])
			} else if math.Abs(got*1000-math.Round(got*1000)) > 1e-6 {
				t.Errorf("latency_ms = %v, want at most 3 decimals", got)
			}
			if v, ok := l["latency"]; ok {
				t.Errorf("latency = %v: the raw nanoseconds are still logged", v)
			}
			if got := l.str("level"); got != "INFO" {
				t.Errorf("level = %q, want INFO", got)
			}
		})
	}

	t.Run("no key text outside the demo key lines", func(t *testing.T) {
		keys := []string{secret, "sk_test_full", "sk_test_other", "sk_test_readonly", "sk_test_nocredits", "sk_test_revoked"}
		for _, raw := range strings.Split(strings.TrimSpace(s.log.String()), "\n") {
			if strings.Contains(raw, `"msg":"demo API key"`) {
				continue
			}
			for _, k := range keys {
				if strings.Contains(raw, k) {
					t.Errorf("log line carries the key %q: %s", k, raw)
				}
			}
		}
	})
}

// TestRedisLogsAreJSON: with -redis pointing at a Redis that is down, the
// lines go-redis writes about it come through the server's slog logger
// (JSON, level WARN), and name neither the address nor the credentials of
// the URL. Run as a process: go-redis writes to the process's stderr.
func TestRedisLogsAreJSON(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more
	const password = "s3cret-redis-pw"
	p := startProc(t, "-redis", "redis://clipia:"+password+"@"+addr+"/0", "-work-delay", "1ms")

	if r := do(t, p.url, req{path: "/v1/models", key: "sk_test_full"}); r.status != http.StatusOK {
		t.Errorf("GET /v1/models with Redis down: %d %s, want 200 (rate limits fail open)", r.status, r.body)
	}
	if r := do(t, p.url, post("sk_test_full", okBody, "redis-down")); r.status != http.StatusServiceUnavailable {
		t.Errorf("keyed POST with Redis down: %d %s, want 503", r.status, r.body)
	}
	waitFor(t, "a go-redis line in the log", func() bool {
		return strings.Contains(p.log.String(), `"msg":"redis client"`)
	})
	lines := p.log.lines(t) // fails on any line that is not JSON
	for _, l := range lines {
		if l.str("msg") != "redis client" {
			continue
		}
		if got := l.str("level"); got != "WARN" {
			t.Errorf("go-redis line at level %q, want WARN: %v", got, l)
		}
		if d := l.str("detail"); d == "" || strings.Contains(d, addr) {
			t.Errorf("go-redis line detail %q: want text without the address %s", d, addr)
		}
	}
	for _, raw := range strings.Split(strings.TrimSpace(p.log.String()), "\n") {
		if strings.Contains(raw, password) {
			t.Errorf("log line carries the Redis password: %s", raw)
		}
		if strings.HasPrefix(raw, "redis: ") {
			t.Errorf("a plain-text go-redis line: %s", raw)
		}
	}
}
