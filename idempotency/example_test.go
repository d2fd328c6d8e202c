package idempotency_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/middleware/nethttp"
)

func Example() {
	store := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
	defer store.Close()

	// The guard runs on every front door: here net/http; echo4.Use,
	// echo5.Use and gin1.Use take it alike.
	idem := guard.Must(idempotency.New(idempotency.Config{Store: store}))

	generations := 0
	mux := http.NewServeMux()
	mux.Handle("POST /v1/generations", nethttp.Use(idem)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		generations++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"id": fmt.Sprintf("gen_%d", generations)})
	})))
	app := nethttp.Install(mux, nethttp.Config{})

	send := func(body string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/generations", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "8e03978e-40d5-43e8-bc93-6894a57f9324")
		rec := httptest.NewRecorder()
		app.ServeHTTP(rec, req)
		fmt.Printf("%d replayed=%q %s", rec.Code, rec.Header().Get("Idempotent-Replayed"), rec.Body)
		if rec.Body.Len() > 0 && !strings.HasSuffix(rec.Body.String(), "\n") {
			fmt.Println()
		}
	}
	send(`{"prompt":"a cat","duration":5}`)
	send(`{"duration":5, "prompt":"a cat"}`) // same fields, other order: replayed
	send(`{"prompt":"a dog","duration":5}`)  // same key, other request
	fmt.Println("generations:", generations)
	// Output:
	// 201 replayed="" {"id":"gen_1"}
	// 201 replayed="true" {"id":"gen_1"}
	// 409 replayed="" {"error":{"type":"idempotency_error","code":"idempotency_key_reuse","message":"This Idempotency-Key was already used with different parameters. Use a new key."}}
	// generations: 1
}

func ExampleParseKey() {
	for _, v := range []string{`abc-123`, `"abc-123"`, `"a\"b"`, ``, "clé"} {
		k, err := idempotency.ParseKey(v)
		fmt.Printf("[%s] key=[%s] err=%v\n", v, k, err)
	}
	// Output:
	// [abc-123] key=[abc-123] err=<nil>
	// ["abc-123"] key=[abc-123] err=<nil>
	// ["a\"b"] key=[a"b] err=<nil>
	// [] key=[] err=Idempotency-Key must not be empty
	// [clé] key=[] err=Idempotency-Key must contain only printable ASCII characters
}

func ExampleFingerprint() {
	a := idempotency.Fingerprint("POST", "/v1/generations", "", "application/json", []byte(`{"prompt":"a cat","duration":5}`))
	b := idempotency.Fingerprint("POST", "/v1/generations", "", "application/json", []byte(`{ "duration": 5, "prompt": "a cat" }`))
	c := idempotency.Fingerprint("POST", "/v1/generations", "", "application/json", []byte(`{"prompt":"a dog","duration":5}`))
	fmt.Println(a == b, a == c)
	// Output: true false
}

func ExampleCanonicalJSON() {
	c, ok := idempotency.CanonicalJSON([]byte(`{"b": [1.50, 2e0], "a": "\u00e9"}`))
	fmt.Println(string(c), ok)
	// Output: {"a":"é","b":[1.50,2e0]} true
}

func ExampleMemoryStore() {
	ctx := context.Background()
	store := idempotency.NewMemoryStore(idempotency.MemoryConfig{MaxRecords: 1000})
	defer store.Close()

	first, _ := store.Claim(ctx, "tenant:acme|POST|/v1/generations|k1", "fp", 30*time.Second)
	second, _ := store.Claim(ctx, "tenant:acme|POST|/v1/generations|k1", "fp", 30*time.Second)
	fmt.Println(first.Claimed, second.Claimed, second.Record.State)

	_ = store.Commit(ctx, "tenant:acme|POST|/v1/generations|k1", first.Token,
		idempotency.Response{Status: 201, Body: []byte(`{"id":"gen_1"}`)}, 24*time.Hour)
	third, _ := store.Claim(ctx, "tenant:acme|POST|/v1/generations|k1", "fp", 30*time.Second)
	fmt.Println(third.Record.State, third.Record.Response.Status, string(third.Record.Response.Body))

	err := store.Commit(ctx, "tenant:acme|POST|/v1/generations|k1", first.Token, idempotency.Response{Status: 200}, time.Hour)
	fmt.Println(err)
	// Output:
	// true false in_progress
	// completed 201 {"id":"gen_1"}
	// idempotency: token does not own an in-progress record
}
