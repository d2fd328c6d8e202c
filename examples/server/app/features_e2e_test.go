package app

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestProblemJSON: a client whose Accept prefers application/problem+json
// gets the RFC 9457 rendering of the same error; everyone else gets the
// envelope.
func TestProblemJSON(t *testing.T) {
	s := startServer(t, "-work-delay", "1ms")
	problem := func(t *testing.T, r resp, status int, code, param string) {
		t.Helper()
		if r.status != status {
			t.Fatalf("status %d %s, want %d", r.status, r.body, status)
		}
		if got := r.header.Get("Content-Type"); got != "application/problem+json" {
			t.Errorf("Content-Type = %q, want application/problem+json", got)
		}
		if r.header.Get("X-Request-Id") == "" {
			t.Error("no X-Request-Id")
		}
		var p struct {
			Type   string `json:"type"`
			Title  string `json:"title"`
			Status int    `json:"status"`
			Detail string `json:"detail"`
			Code   string `json:"code"`
			Param  string `json:"param"`
		}
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatalf("body %s: %v", r.body, err)
		}
		if p.Type != "urn:apiguard:error:"+code || p.Status != status || p.Code != code || p.Param != param ||
			p.Title == "" || p.Detail == "" {
			t.Errorf("problem %+v, want type urn:apiguard:error:%s, status %d, code %s, param %q, a title and a detail",
				p, code, status, code, param)
		}
	}
	accept := func(r req, v string) req {
		if r.header == nil {
			r.header = map[string]string{}
		}
		r.header["Accept"] = v
		return r
	}

	t.Run("401 as a problem", func(t *testing.T) {
		r := do(t, s.url, accept(req{path: "/v1/models"}, "application/problem+json"))
		problem(t, r, 401, "invalid_api_key", "")
		if got := r.header.Get("WWW-Authenticate"); got != challenge {
			t.Errorf("WWW-Authenticate = %q, want %q", got, challenge)
		}
	})
	t.Run("400 with param as a problem", func(t *testing.T) {
		r := do(t, s.url, accept(post("sk_test_full", `{"model":"clipia-fast"}`, ""), "application/problem+json, application/json;q=0.5"))
		problem(t, r, 400, "invalid_request", "prompt")
	})
	t.Run("404 for an unknown route as a problem", func(t *testing.T) {
		problem(t, do(t, s.url, accept(req{path: "/v1/nope"}, "application/problem+json")), 404, "not_found", "")
	})
	t.Run("envelope by default", func(t *testing.T) {
		for _, a := range []string{"\x00", "application/json", "*/*", "application/json, application/problem+json;q=0.5"} {
			r := do(t, s.url, accept(req{path: "/v1/models"}, a))
			checkError(t, r, errorWant{row: rowInvalidAPIKey, wwwAuth: challenge})
		}
	})
}

// TestXAPIKey: the key is accepted from X-API-Key as well as from
// Authorization: Bearer.
func TestXAPIKey(t *testing.T) {
	s := startServer(t, "-work-delay", "1ms")
	withKey := func(r req, key string) req {
		r.header = map[string]string{"X-API-Key": key}
		return r
	}
	t.Run("X-API-Key alone", func(t *testing.T) {
		if r := do(t, s.url, withKey(req{path: "/v1/models"}, "sk_test_full")); r.status != http.StatusOK {
			t.Fatalf("GET /v1/models with X-API-Key: %d %s, want 200", r.status, r.body)
		}
		r := do(t, s.url, withKey(post("", okBody, ""), "sk_test_other"))
		if r.status != http.StatusCreated {
			t.Fatalf("POST /v1/generations with X-API-Key: %d %s, want 201", r.status, r.body)
		}
	})
	t.Run("both headers with the same key", func(t *testing.T) {
		if r := do(t, s.url, withKey(req{path: "/v1/balance", key: "sk_test_full"}, "sk_test_full")); r.status != http.StatusOK {
			t.Fatalf("GET /v1/balance with both headers: %d %s, want 200", r.status, r.body)
		}
	})
	t.Run("scopes apply", func(t *testing.T) {
		r := do(t, s.url, withKey(post("", okBody, ""), "sk_test_readonly"))
		checkError(t, r, errorWant{row: rowInsufficientScope})
	})
	for _, tt := range []struct{ name, bearer, xkey string }{
		{"unknown key", "", "sk_test_nope"},
		{"revoked key", "", "sk_test_revoked"},
		{"both headers with different keys", "sk_test_full", "sk_test_other"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, s.url, withKey(req{path: "/v1/models", key: tt.bearer}, tt.xkey))
			checkError(t, r, errorWant{row: rowInvalidAPIKey, wwwAuth: challengeToken})
		})
	}
}

// TestStrictBody: an unknown field in POST /v1/generations answers 400
// invalid_request with param naming it, and charges nothing.
func TestStrictBody(t *testing.T) {
	s := startServer(t, "-work-delay", "1ms")
	before := balanceOf(t, s.url, "sk_test_full")
	r := do(t, s.url, post("sk_test_full", `{"model":"clipia-fast","prompt":"a cat","colour":"red"}`, ""))
	e := checkError(t, r, errorWant{row: rowInvalidRequest, param: "colour"})
	if !strings.Contains(e.Message, "colour") {
		t.Errorf("message %q does not name the field", e.Message)
	}
	if got := balanceOf(t, s.url, "sk_test_full"); got != before {
		t.Errorf("balance %d after a rejected body, want %d", got, before)
	}
	// A misspelt optional field is the case strictness exists for: without
	// it, "durration" would be ignored and the default 5 s charged.
	r = do(t, s.url, post("sk_test_full", `{"model":"clipia-fast","prompt":"a cat","durration":2}`, ""))
	checkError(t, r, errorWant{row: rowInvalidRequest, param: "durration"})
}
