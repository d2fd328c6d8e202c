package app

import (
	"bufio"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// scrape is one scrape of /metrics: every sample, by metric name.
type scrape map[string][]sample

type sample struct {
	labels map[string]string
	value  float64
}

var labelRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// parseScrape reads the Prometheus text format.
func parseScrape(t *testing.T, body string) scrape {
	t.Helper()
	out := scrape{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			t.Fatalf("sample without a value: %q", line)
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		name, labels := line[:sp], map[string]string{}
		if i := strings.IndexByte(name, '{'); i >= 0 {
			for _, m := range labelRE.FindAllStringSubmatch(name[i:], -1) {
				labels[m[1]] = m[2]
			}
			name = name[:i]
		}
		out[name] = append(out[name], sample{labels: labels, value: v})
	}
	return out
}

// sum adds up the samples of name whose labels include want.
func (s scrape) sum(name string, want map[string]string) float64 {
	var n float64
	for _, smp := range s[name] {
		ok := true
		for k, v := range want {
			ok = ok && smp.labels[k] == v
		}
		if ok {
			n += smp.value
		}
	}
	return n
}

// TestMetricsEndpoint: GET /metrics needs no key and, after a 429, a 402
// and a replay (and an unknown key, a scope refusal), counts each exactly,
// in the Prometheus text format, with no key, key id or tenant in it.
func TestMetricsEndpoint(t *testing.T) {
	s := startServer(t, "-work-delay", "1ms", "-rate", "1", "-burst", "5")
	authOK := 0

	// 429: one tenant (globex) past its burst.
	limited := 0
	for range 10 {
		r := do(t, s.url, req{method: http.MethodGet, path: "/v1/models", key: "sk_test_other"})
		authOK++
		if r.status == http.StatusTooManyRequests {
			limited++
			break
		}
	}
	if limited != 1 {
		t.Fatal("no 429 within 10 requests at -rate 1 -burst 5")
	}
	// 402: a tenant without credits (initech).
	if r := do(t, s.url, post("sk_test_nocredits", okBody, "")); r.status != http.StatusPaymentRequired {
		t.Fatalf("no credits: got %d %s, want 402", r.status, r.body)
	}
	authOK++
	// A replay: the same key twice (acme).
	first := do(t, s.url, post("sk_test_full", okBody, "metrics-replay"))
	again := do(t, s.url, post("sk_test_full", okBody, "metrics-replay"))
	authOK += 2
	if first.status != http.StatusCreated || again.status != http.StatusCreated || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: got %d then %d replayed=%q, want 201 then its replay", first.status, again.status, again.header.Get("Idempotent-Replayed"))
	}
	// An unknown key, and a key without the scope (acme's readonly key).
	if r := do(t, s.url, req{method: http.MethodGet, path: "/v1/models", key: "sk_test_nope"}); r.status != http.StatusUnauthorized {
		t.Fatalf("unknown key: got %d", r.status)
	}
	if r := do(t, s.url, post("sk_test_readonly", okBody, "")); r.status != http.StatusForbidden {
		t.Fatalf("readonly key: got %d %s, want 403", r.status, r.body)
	}
	authOK++

	r := do(t, s.url, req{method: http.MethodGet, path: "/metrics"})
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics without a key: got %d %q, want 200 text/plain", r.status, r.header.Get("Content-Type"))
	}
	body := string(r.body)
	m := parseScrape(t, body)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"apiguard_errors_total", map[string]string{"http_response_status_code": "429", "apiguard_error_code": "rate_limit_exceeded"}, 1},
		{"apiguard_errors_total", map[string]string{"http_response_status_code": "402", "apiguard_error_code": "insufficient_credits"}, 1},
		{"apiguard_errors_total", map[string]string{"http_response_status_code": "401", "apiguard_error_code": "invalid_api_key"}, 1},
		{"apiguard_errors_total", map[string]string{"http_response_status_code": "403", "apiguard_error_code": "insufficient_scope"}, 1},
		{"apiguard_errors_total", nil, 4},
		{"apiguard_idempotency_requests_total", map[string]string{"apiguard_idempotency_outcome": "executed"}, 1},
		{"apiguard_idempotency_requests_total", map[string]string{"apiguard_idempotency_outcome": "replayed"}, 1},
		{"apiguard_idempotency_requests_total", nil, 2},
		{"apiguard_auth_requests_total", map[string]string{"apiguard_auth_outcome": "ok"}, float64(authOK)},
		{"apiguard_auth_requests_total", map[string]string{"apiguard_auth_outcome": "invalid_key"}, 1},
		{"apiguard_auth_requests_total", map[string]string{"apiguard_auth_outcome": "insufficient_scope"}, 1},
		// Every authenticated request meets the limiter (the scope is
		// checked after it); one was refused.
		{"apiguard_ratelimit_decisions_total", map[string]string{"apiguard_ratelimit_policy": "default", "apiguard_ratelimit_outcome": "limited"}, 1},
		{"apiguard_ratelimit_decisions_total", nil, float64(authOK)},
		{"apiguard_store_duration_seconds_count", map[string]string{"apiguard_store": "memory", "apiguard_store_operation": "claim"}, 2},
		{"apiguard_store_duration_seconds_count", map[string]string{"apiguard_store": "memory", "apiguard_store_operation": "commit"}, 1},
		{"apiguard_store_duration_seconds_count", map[string]string{"apiguard_store": "memory", "apiguard_store_operation": "lookup"}, float64(authOK + 1)}, // and the unknown key,
	}
	for _, c := range checks {
		if got := m.sum(c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, secret := range []string{"sk_test", "key_full", "key_other", "key_nocredits", "acme", "globex", "initech", "metrics-replay"} {
		if strings.Contains(body, secret) {
			t.Errorf("/metrics mentions %q", secret)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
}
