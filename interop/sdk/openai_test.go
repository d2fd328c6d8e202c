package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// newOpenAI returns an unmodified openai-go client whose base URL is the
// proxy's /v1/. MaxRetries is always set explicitly by the caller's opts or
// here (2, the SDK's default).
func newOpenAI(p *proxy, key string, opts ...option.RequestOption) *openai.Client {
	base := []option.RequestOption{
		option.WithBaseURL(p.URL + "/v1/"),
		option.WithAPIKey(key),
		option.WithMaxRetries(2),
		option.WithHTTPClient(&http.Client{Timeout: 30 * time.Second}),
	}
	c := openai.NewClient(append(base, opts...)...)
	return &c
}

// checkOpenAIError asserts that err is an *openai.Error that carries the
// envelope of the last attempt the proxy saw, and the row's fields.
func checkOpenAIError(t *testing.T, err error, last attempt, status int, code, typ, param string) *openai.Error {
	t.Helper()
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("got error %T %v, want *openai.Error", err, err)
	}
	env := last.envelope(t)
	if apiErr.StatusCode != status {
		t.Errorf("got StatusCode %d, want %d", apiErr.StatusCode, status)
	}
	if apiErr.Code != code {
		t.Errorf("got Code %q, want %q", apiErr.Code, code)
	}
	if apiErr.Type != typ {
		t.Errorf("got Type %q, want %q", apiErr.Type, typ)
	}
	if apiErr.Param != param {
		t.Errorf("got Param %q, want %q", apiErr.Param, param)
	}
	if apiErr.Message == "" || apiErr.Message != env.Message {
		t.Errorf("got Message %q, want the envelope's %q", apiErr.Message, env.Message)
	}
	if got, want := apiErr.JSON.Param.Valid(), param != ""; got != want {
		t.Errorf("got JSON.Param.Valid() %v, want %v (param present on the wire)", got, want)
	}
	if got, want := apiErr.Response.Header.Get("X-Request-Id"), last.RespHeader.Get("X-Request-Id"); got == "" || got != want {
		t.Errorf("got X-Request-Id %q on the SDK's response, want the last attempt's %q", got, want)
	}
	checkSanitised(t, apiErr.Message)
	return apiErr
}

// checkStainlessRetryCount asserts that the attempts carry the SDK's own
// retry counter 0, 1, 2, …: they are the SDK's retries, not new calls.
func checkStainlessRetryCount(t *testing.T, as []attempt) {
	t.Helper()
	for i, a := range as {
		if got, want := a.ReqHeader.Get("X-Stainless-Retry-Count"), strconv.Itoa(i); got != want {
			t.Errorf("attempt %d: got X-Stainless-Retry-Count %q, want %q", i+1, got, want)
		}
	}
}

// TestOpenAIErrorRows drives every single-request row of
// POST /v1/generations through openai-go's generic client.Post, so the
// SDK's own retry logic and error parsing apply. Non-retryable rows are sent
// once; 500 and 503 are retried (MaxRetries 2: three attempts), 503 after
// the server's Retry-After: 1, 500 after the SDK's own backoff.
func TestOpenAIErrorRows(t *testing.T) { eachFramework(t, testOpenAIErrorRows) }

func testOpenAIErrorRows(t *testing.T, fw string) {
	t.Parallel()
	srv := startServer(t, fw, "-rate", "1000", "-burst", "1000", "-work-delay", "10ms")
	for _, tc := range generationRows() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newProxy(t, srv)
			client := newOpenAI(p, tc.key, option.WithMaxRetries(2))
			var res map[string]any
			err := client.Post(context.Background(), "generations", tc.body, &res)
			as := p.all(http.MethodPost, pathGenerations)
			checkOpenAIError(t, err, p.last(t, http.MethodPost, pathGenerations), tc.status, tc.code, tc.typ, tc.param)

			wantAttempts := 1
			if tc.retryable {
				wantAttempts = 3
			}
			if len(as) != wantAttempts {
				t.Fatalf("got %d attempts (%s), want %d", len(as), statuses(as), wantAttempts)
			}
			checkStainlessRetryCount(t, as)
			for i, a := range as {
				if a.Status != tc.status {
					t.Errorf("attempt %d: got status %d, want %d", i+1, a.Status, tc.status)
				}
			}
			for i, g := range gaps(as) {
				var min time.Duration
				switch tc.status {
				case http.StatusServiceUnavailable:
					min = time.Second // Retry-After: 1, obeyed exactly
				case http.StatusInternalServerError:
					// No Retry-After: 0.5 s × 2^n, minus up to 25 % jitter.
					min = time.Duration(float64(500*time.Millisecond) * float64(int(1)<<i) * 0.75)
				}
				if g < min {
					t.Errorf("gap %d: got %v between attempts, want at least %v", i+1, g, min)
				}
			}
			t.Logf("openai-go: %s → %d attempt(s), statuses %s, gaps %v", tc.name, len(as), statuses(as), gaps(as))
		})
	}
}

// TestOpenAITypedModels calls the SDK's typed Models service, whose paths
// are ours too: GET /v1/models and GET /v1/models/:id.
func TestOpenAITypedModels(t *testing.T) { eachFramework(t, testOpenAITypedModels) }

func testOpenAITypedModels(t *testing.T, fw string) {
	t.Parallel()
	srv := startServer(t, fw, "-rate", "1000", "-burst", "1000")
	ctx := context.Background()

	t.Run("list", func(t *testing.T) {
		p := newProxy(t, srv)
		page, err := newOpenAI(p, keyFull).Models.List(ctx)
		if err != nil {
			t.Fatalf("Models.List: %v", err)
		}
		var got []string
		for _, m := range page.Data {
			got = append(got, m.ID)
		}
		want := []string{"clipia-fast", "clipia-pro", "clipia-maintenance", "clipia-faulty"}
		if len(got) != len(want) {
			t.Fatalf("got models %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("got models %v, want %v", got, want)
				break
			}
		}
	})
	t.Run("get", func(t *testing.T) {
		p := newProxy(t, srv)
		m, err := newOpenAI(p, keyFull).Models.Get(ctx, "clipia-pro")
		if err != nil {
			t.Fatalf("Models.Get: %v", err)
		}
		if m.ID != "clipia-pro" {
			t.Errorf("got model id %q, want clipia-pro", m.ID)
		}
	})
	t.Run("404 unknown model", func(t *testing.T) {
		p := newProxy(t, srv)
		_, err := newOpenAI(p, keyFull).Models.Get(ctx, "clipia-x")
		checkOpenAIError(t, err, p.last(t, http.MethodGet, "/v1/models/clipia-x"), 404, "not_found", "invalid_request_error", "")
		if got := p.count(http.MethodGet, "/v1/models/clipia-x"); got != 1 {
			t.Errorf("got %d attempts, want 1", got)
		}
	})
	t.Run("401 revoked key", func(t *testing.T) {
		p := newProxy(t, srv)
		_, err := newOpenAI(p, keyRevoked).Models.List(ctx)
		apiErr := checkOpenAIError(t, err, p.last(t, http.MethodGet, "/v1/models"), 401, "invalid_api_key", "authentication_error", "")
		if got, want := apiErr.Response.Header.Get("WWW-Authenticate"), `Bearer realm="api", error="invalid_token"`; got != want {
			t.Errorf("got WWW-Authenticate %q, want %q", got, want)
		}
		if got := p.count(http.MethodGet, "/v1/models"); got != 1 {
			t.Errorf("got %d attempts, want 1", got)
		}
	})
}

// TestOpenAIIdempotencyKeyReuse: openai-go retries every 409 by status, so
// X-Should-Retry: false is what keeps it from retrying idempotency_key_reuse.
// The counterfactual subtest strips the header in the proxy and shows the
// three attempts the SDK would otherwise make.
func TestOpenAIIdempotencyKeyReuse(t *testing.T) { eachFramework(t, testOpenAIIdempotencyKeyReuse) }

func testOpenAIIdempotencyKeyReuse(t *testing.T, fw string) {
	t.Parallel()
	srv := startServer(t, fw, "-rate", "1000", "-burst", "1000", "-work-delay", "10ms")
	ctx := context.Background()
	first := map[string]any{"model": "clipia-fast", "prompt": "a lighthouse at dusk", "duration": 2}
	changed := map[string]any{"model": "clipia-fast", "prompt": "a lighthouse at dawn", "duration": 2}

	for _, tc := range []struct {
		name         string
		idemKey      string
		stripHeader  bool
		wantAttempts int
	}{
		{name: "X-Should-Retry false: one attempt", idemKey: "interop-reuse-1", wantAttempts: 1},
		{name: "counterfactual without X-Should-Retry: retried by status", idemKey: "interop-reuse-2", stripHeader: true, wantAttempts: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []proxyOption
			if tc.stripHeader {
				opts = append(opts, withResponseHeader(http.StatusConflict, "X-Should-Retry", ""))
			}
			p := newProxy(t, srv, opts...)
			client := newOpenAI(p, keyFull, option.WithMaxRetries(2), option.WithHeader("Idempotency-Key", tc.idemKey))

			var created map[string]any
			if err := client.Post(ctx, "generations", first, &created); err != nil {
				t.Fatalf("first request: %v", err)
			}
			err := client.Post(ctx, "generations", changed, nil)
			as := p.all(http.MethodPost, pathGenerations)
			checkOpenAIError(t, err, as[len(as)-1], 409, "idempotency_key_reuse", "idempotency_error", "")
			if got := len(as) - 1; got != tc.wantAttempts {
				t.Errorf("got %d attempts for the changed request (%s), want %d", got, statuses(as[1:]), tc.wantAttempts)
			}

			// The original parameters replay the stored 201.
			var replay map[string]any
			var raw *http.Response
			if err := client.Post(ctx, "generations", first, &replay, option.WithResponseInto(&raw)); err != nil {
				t.Fatalf("replay: %v", err)
			}
			if replay["id"] != created["id"] || raw.Header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("got id %v (Idempotent-Replayed %q), want the replay of %v", replay["id"], raw.Header.Get("Idempotent-Replayed"), created["id"])
			}
		})
	}
}

// TestOpenAIRequestInProgress: while a first request with the same
// Idempotency-Key runs (work-delay 5 s), openai-go's call gets 409
// request_in_progress with Retry-After: 1 and X-Should-Retry: true, and
// retries it once a second: with MaxRetries 2 it gives up after three
// attempts; with more retries it receives the first request's replayed 201,
// and the tenant is charged once.
func TestOpenAIRequestInProgress(t *testing.T) { eachFramework(t, testOpenAIRequestInProgress) }

func testOpenAIRequestInProgress(t *testing.T, fw string) {
	t.Parallel()
	srv := startServer(t, fw, "-rate", "1000", "-burst", "1000", "-work-delay", "5s")
	ctx := context.Background()
	body := map[string]any{"model": "clipia-fast", "prompt": "waves on a pier", "duration": 5}
	const cost = 5

	t.Run("retries exhausted", func(t *testing.T) {
		t.Parallel()
		first := startInFlight(t, srv, keyFull, "interop-inprogress-a", body, cost)
		p := newProxy(t, srv)
		client := newOpenAI(p, keyFull, option.WithMaxRetries(2), option.WithHeader("Idempotency-Key", "interop-inprogress-a"))
		err := client.Post(ctx, "generations", body, nil)
		as := p.all(http.MethodPost, pathGenerations)
		apiErr := checkOpenAIError(t, err, p.last(t, http.MethodPost, pathGenerations), 409, "request_in_progress", "idempotency_error", "")
		if got := apiErr.Response.Header.Get("Retry-After"); got != "1" {
			t.Errorf("got Retry-After %q, want 1", got)
		}
		if len(as) != 3 {
			t.Fatalf("got %d attempts (%s), want 3", len(as), statuses(as))
		}
		checkStainlessRetryCount(t, as)
		for i, g := range gaps(as) {
			if g < time.Second {
				t.Errorf("gap %d: got %v, want at least the Retry-After of 1s", i+1, g)
			}
		}
		if status, b := first.wait(t); status != http.StatusCreated {
			t.Errorf("first request: got %d %s, want 201", status, b)
		}
	})
	t.Run("retried until the replay", func(t *testing.T) {
		t.Parallel()
		first := startInFlight(t, srv, keyOther, "interop-inprogress-b", body, cost)
		p := newProxy(t, srv)
		client := newOpenAI(p, keyOther, option.WithMaxRetries(8), option.WithHeader("Idempotency-Key", "interop-inprogress-b"))
		var res map[string]any
		if err := client.Post(ctx, "generations", body, &res); err != nil {
			t.Fatalf("got %v, want the replayed 201", err)
		}
		status, firstBody := first.wait(t)
		var firstRes map[string]any
		if err := json.Unmarshal(firstBody, &firstRes); err != nil || status != http.StatusCreated {
			t.Fatalf("first request: got %d %s", status, firstBody)
		}
		if res["id"] != firstRes["id"] {
			t.Errorf("got generation %v, want the first request's %v", res["id"], firstRes["id"])
		}
		as := p.all(http.MethodPost, pathGenerations)
		if len(as) < 2 {
			t.Fatalf("got %d attempts (%s), want at least one 409 then the 201", len(as), statuses(as))
		}
		for i, a := range as[:len(as)-1] {
			if a.Status != http.StatusConflict || a.envelope(t).Code != "request_in_progress" {
				t.Errorf("attempt %d: got %d %s, want 409 request_in_progress", i+1, a.Status, a.RespBody)
			}
		}
		last := as[len(as)-1]
		if last.Status != http.StatusCreated || last.RespHeader.Get("Idempotent-Replayed") != "true" {
			t.Errorf("last attempt: got %d, Idempotent-Replayed %q, want the replayed 201", last.Status, last.RespHeader.Get("Idempotent-Replayed"))
		}
		if got, want := srv.balance(t, keyOther), int64(startCredits-cost); got != want {
			t.Errorf("got balance %d, want %d (charged once)", got, want)
		}
		t.Logf("openai-go: 409 request_in_progress → %d attempts, statuses %s, gaps %v", len(as), statuses(as), gaps(as))
	})
}

// TestOpenAIRateLimit: with -rate 0.2 -burst 1, a second request at once
// gets 429 with Retry-After: 5; openai-go waits exactly that long and the
// retry succeeds. (A token every 5 s: a loaded machine does not refill the
// bucket between two requests, as it could with -rate 1.) A MaxRetryDelay below the Retry-After makes the SDK give up at
// once instead of retrying early.
func TestOpenAIRateLimit(t *testing.T) { eachFramework(t, testOpenAIRateLimit) }

func testOpenAIRateLimit(t *testing.T, fw string) {
	t.Parallel()
	srv := startServer(t, fw, "-rate", "0.2", "-burst", "1")
	ctx := context.Background()
	p := newProxy(t, srv)
	const path = "/v1/models"

	if _, err := newOpenAI(p, keyFull, option.WithMaxRetries(0)).Models.List(ctx); err != nil {
		t.Fatalf("first request: %v", err)
	}

	// MaxRetries 0: the 429 itself, with every field.
	_, err := newOpenAI(p, keyFull, option.WithMaxRetries(0)).Models.List(ctx)
	apiErr := checkOpenAIError(t, err, p.last(t, http.MethodGet, path), 429, "rate_limit_exceeded", "rate_limit_error", "")
	if got := apiErr.Response.Header.Get("Retry-After"); got != "5" {
		t.Errorf("got Retry-After %q, want 5", got)
	}
	if got := p.count(http.MethodGet, path); got != 2 {
		t.Fatalf("got %d attempts so far, want 2", got)
	}

	// MaxRetries 2: waits out the Retry-After, then succeeds.
	if _, err := newOpenAI(p, keyFull, option.WithMaxRetries(2)).Models.List(ctx); err != nil {
		t.Fatalf("got %v, want success after waiting out the 429", err)
	}
	as := p.all(http.MethodGet, path)[2:]
	if statuses(as) != "429 200" {
		t.Fatalf("got statuses %s, want 429 200", statuses(as))
	}
	checkStainlessRetryCount(t, as)
	if g := gaps(as)[0]; g < 5*time.Second {
		t.Errorf("got %v between the 429 and the retry, want at least the Retry-After of 5s", g)
	}
	t.Logf("openai-go: 429 → statuses %s, gap %v", statuses(as), gaps(as))

	// MaxRetryDelay 500ms < Retry-After 5s: the SDK does not retry at all.
	_, err = newOpenAI(p, keyFull, option.WithMaxRetries(2), option.WithMaxRetryDelay(500*time.Millisecond)).Models.List(ctx)
	checkOpenAIError(t, err, p.last(t, http.MethodGet, path), 429, "rate_limit_exceeded", "rate_limit_error", "")
	if got := len(p.all(http.MethodGet, path)) - 4; got != 1 {
		t.Errorf("with MaxRetryDelay below Retry-After: got %d attempts, want 1", got)
	}
}
