// Package exampletest holds the test that the README's five programs
// (examples/quickstart on Echo v4, examples/echo5, examples/gin,
// examples/nethttp, examples/chi) pass alike: the same guards, the same
// answers, whichever front door serves them. Only tests import it.
package exampletest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func do(t *testing.T, srv *httptest.Server, method, path, key, idemKey, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	// A redirect is an answer of its own: never follow one.
	client := &http.Client{
		Transport:     srv.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// Run exercises the README's program app as the README describes it: an
// id on every response, 201, 401, unknown routes and odd paths (404, never a redirect, no key needed,
// no token spent), a percent-encoded path routed as its plain spelling,
// 400s, a catalogue error, a replay, a key reused, and the RateLimit header.
func Run(t *testing.T, app http.Handler) {
	t.Helper()
	start := time.Now()
	srv := httptest.NewServer(app)
	defer srv.Close()
	const key = "sk_test_full"
	tests := []struct {
		name, method, path, key, idem, body string
		want                                int
		wantCode                            string
	}{
		{"created", "POST", "/v1/generations", key, "", `{"prompt":"a cat"}`, 201, ""},
		{"no key", "POST", "/v1/generations", "", "", `{"prompt":"a cat"}`, 401, "invalid_api_key"},
		{"unknown route needs no key", "GET", "/v1/nope", "", "", "", 404, "not_found"},
		{"unknown route with a key", "GET", "/v1/nope", key, "", "", 404, "not_found"},
		{"wrong method", "GET", "/v1/generations", key, "", "", 404, "not_found"},
		{"empty segment, no redirect", "POST", "/v1//generations", key, "", `{"prompt":"a cat"}`, 404, "not_found"},
		{"dot segment, no redirect", "POST", "/v1/./generations", key, "", `{"prompt":"a cat"}`, 404, "not_found"},
		{"percent-encoded letter", "POST", "/v1/generation%73", key, "", `{"prompt":"a cat"}`, 201, ""},
		{"missing prompt", "POST", "/v1/generations", key, "", `{}`, 400, "invalid_request"},
		{"unknown field", "POST", "/v1/generations", key, "", `{"prompt":"a","colour":"red"}`, 400, "invalid_request"},
		{"catalogue error", "POST", "/v1/generations", key, "", `{"prompt":"` + strings.Repeat("x", 101) + `"}`, 402, "insufficient_credits"},
		{"first with a key", "POST", "/v1/generations", key, "k1", `{"prompt":"a dog"}`, 201, ""},
		{"replayed", "POST", "/v1/generations", key, "k1", `{"prompt":"a dog"}`, 201, ""},
		{"key reused", "POST", "/v1/generations", key, "k1", `{"prompt":"a fox"}`, 409, "idempotency_key_reuse"},
	}
	for _, tc := range tests {
		status, h, body := do(t, srv, tc.method, tc.path, tc.key, tc.idem, tc.body)
		if h.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id (guard.RequestID runs for every request)", tc.name)
		}
		if status != tc.want {
			t.Errorf("%s: got %d %s, want %d", tc.name, status, body, tc.want)
			continue
		}
		if tc.wantCode != "" && !strings.Contains(body, `"code":"`+tc.wantCode+`"`) {
			t.Errorf("%s: got %s, want code %s", tc.name, body, tc.wantCode)
		}
		if tc.name == "replayed" && h.Get("Idempotent-Replayed") != "true" {
			t.Errorf("replayed: got headers %v, want Idempotent-Replayed: true", h)
		}
	}
	// Of the 20-token burst, the 8 keyed requests above that matched a
	// route spent 8 and this one 1; the unknown routes, the odd paths and
	// the 401 none.
	_, h, _ := do(t, srv, "POST", "/v1/generations", key, "", `{"prompt":"x"}`)
	// The bucket refills one token per 100 ms meanwhile: r is 11 plus at
	// most what refilled, never less (less would mean an unknown route, an
	// odd path or the 401 spent a token).
	refilled := int(time.Since(start)/(100*time.Millisecond)) + 1
	var r int
	if _, err := fmt.Sscanf(h.Get("RateLimit"), `"default";r=%d;`, &r); err != nil || r < 11 || r > min(20, 11+refilled) {
		t.Errorf("got RateLimit %q, want r=11 (up to %d after refills)", h.Get("RateLimit"), min(20, 11+refilled))
	}
}
