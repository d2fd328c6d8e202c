package app

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/openapi.json")

// openAPIFile is the committed document of the server with the flags'
// defaults, the same on every door.
const openAPIFile = "testdata/openapi.json"

// TestOpenAPIServed: GET /openapi.json answers 200 application/json
// without a key, the committed document byte for byte on every door
// (TestEveryFrontDoor runs this test per door), and HEAD answers its
// headers without the body.
func TestOpenAPIServed(t *testing.T) {
	srv := startHeld(t, nil)
	got := do(t, srv.url, req{path: "/openapi.json"})
	if got.status != http.StatusOK || got.header.Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q, want 200 application/json", got.status, got.header.Get("Content-Type"))
	}
	if got.header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id on the document")
	}
	if *update && framework() == FrameworkEcho4 {
		if err := os.WriteFile(openAPIFile, got.body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatalf("%v (write it with go test ./examples/server/app -run TestOpenAPIServed -update)", err)
	}
	if !bytes.Equal(got.body, want) {
		t.Errorf("-framework %s serves a document that differs from %s; after a deliberate change run go test ./examples/server/app -run TestOpenAPIServed -update", framework(), openAPIFile)
	}
	head := do(t, srv.url, req{method: http.MethodHead, path: "/openapi.json"})
	if head.status != http.StatusOK || len(head.body) != 0 || head.header.Get("Content-Length") != strconv.Itoa(len(want)) {
		t.Errorf("HEAD: got %d, %d body bytes, Content-Length %q; want 200, none, %d", head.status, len(head.body), head.header.Get("Content-Length"), len(want))
	}
}

// statuses returns, per "METHOD /path", the statuses the document lists.
func statuses(t *testing.T, doc []byte) map[string][]int {
	t.Helper()
	var d struct {
		Paths map[string]map[string]struct {
			Responses map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	out := map[string][]int{}
	for path, item := range d.Paths {
		for method, op := range item {
			k := map[string]string{"get": "GET", "post": "POST"}[method] + " " + path
			for s := range op.Responses {
				n, err := strconv.Atoi(s)
				if err != nil {
					t.Fatalf("%s: response key %q is not a status", k, s)
				}
				out[k] = append(out[k], n)
			}
			slices.Sort(out[k])
		}
	}
	return out
}

// TestOpenAPIStatuses: each operation lists every status the server can
// answer it with and no other (the routes table of the server's README, plus 400
// for headers over the limit and 500 for a panic on every route): GET
// /v1/models lists no 409, 422 or 402. Failing closed adds 503 where the
// limiters run; PostgreSQL adds it where the ledger is read.
func TestOpenAPIStatuses(t *testing.T) {
	v1 := []int{400, 401, 403, 429, 500}
	base := map[string][]int{
		"GET /healthz":             {200, 400, 500},
		"GET /metrics":             {200, 400, 500},
		"GET /openapi.json":        {200, 400, 500},
		"GET /v1/models":           slices.Concat([]int{200}, v1),
		"GET /v1/models/{id}":      slices.Sorted(slices.Values(slices.Concat([]int{200, 404}, v1))),
		"POST /v1/generations":     {201, 400, 401, 402, 403, 404, 409, 422, 429, 500, 503},
		"GET /v1/generations/{id}": slices.Sorted(slices.Values(slices.Concat([]int{200, 404}, v1))),
		"GET /v1/balance":          slices.Concat([]int{200}, v1),
	}
	with503 := func(keys ...string) map[string][]int {
		m := map[string][]int{}
		for k, v := range base {
			m[k] = v
			if slices.Contains(keys, k) && !slices.Contains(v, 503) {
				m[k] = slices.Sorted(slices.Values(append(slices.Clone(v), 503)))
			}
		}
		return m
	}
	limited := []string{"GET /v1/models", "GET /v1/models/{id}", "GET /v1/generations/{id}", "GET /v1/balance"}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   map[string][]int
	}{
		{"defaults", nil, base},
		{"limits fail closed", func(c *Config) { c.RateLimitFailClosed = true; c.MaxInFlight = 2 }, with503(limited...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig(nil, env(nil), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Framework = framework()
			if tc.change != nil {
				tc.change(&cfg)
			}
			a, err := New(context.Background(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = a.Close() })
			got := statuses(t, a.doc)
			for k, want := range tc.want {
				if !slices.Equal(got[k], want) {
					t.Errorf("%s lists %v, want %v", k, got[k], want)
				}
			}
			for k := range got {
				if _, ok := tc.want[k]; !ok {
					t.Errorf("%s is documented; want only the routes of the README", k)
				}
			}
		})
	}
}

// BenchmarkOpenAPIDocument builds the reference server's document, as New
// does once at start (target: under 10 ms).
func BenchmarkOpenAPIDocument(b *testing.B) {
	cfg, err := ParseConfig(nil, env(nil), io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	a, err := New(context.Background(), cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = a.Close() })
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.api.JSON(); err != nil {
			b.Fatal(err)
		}
	}
}
