// Package exampletest holds the test that the README's three programs
// (examples/quickstart on Echo v4, examples/echo5, examples/nethttp) pass
// alike: the same API, the same answers, whichever front door serves it.
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
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// Run exercises the README's program h as the README describes it: 201,
// 401, unknown routes (404, no key needed, no token spent), 400s, a
// catalogue error, a replay, a key reused, and the RateLimit header.
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
		{"missing prompt", "POST", "/v1/generations", key, "", `{}`, 400, "invalid_request"},
		{"unknown field", "POST", "/v1/generations", key, "", `{"prompt":"a","colour":"red"}`, 400, "invalid_request"},
		{"catalogue error", "POST", "/v1/generations", key, "", `{"prompt":"` + strings.Repeat("x", 101) + `"}`, 402, "insufficient_credits"},
		{"first with a key", "POST", "/v1/generations", key, "k1", `{"prompt":"a dog"}`, 201, ""},
		{"replayed", "POST", "/v1/generations", key, "k1", `{"prompt":"a dog"}`, 201, ""},
		{"key reused", "POST", "/v1/generations", key, "k1", `{"prompt":"a fox"}`, 409, "idempotency_key_reuse"},
	}
	for _, tc := range tests {
		status, h, body := do(t, srv, tc.method, tc.path, tc.key, tc.idem, tc.body)
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
	// Of the 20-token burst, the 7 keyed requests above that matched a
	// route spent 7 and this one 1; the unknown routes and the 401 none.
	_, h, _ := do(t, srv, "POST", "/v1/generations", key, "", `{"prompt":"x"}`)
	// The bucket refills one token per 100 ms meanwhile: r is 12 plus at
	// most what refilled, never less (less would mean an unknown route or
	// the 401 spent a token).
	refilled := int(time.Since(start)/(100*time.Millisecond)) + 1
	var r int
	if _, err := fmt.Sscanf(h.Get("RateLimit"), `"default";r=%d;`, &r); err != nil || r < 12 || r > min(20, 12+refilled) {
		t.Errorf("got RateLimit %q, want r=12 (up to %d after refills)", h.Get("RateLimit"), min(20, 12+refilled))
	}
}
