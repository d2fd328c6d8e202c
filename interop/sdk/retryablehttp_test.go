package sdk

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// newRetryable returns a go-retryablehttp client with its default retry
// policy and backoff, short waits (50 ms doubling, capped at 200 ms) so that
// a wait of a whole second can only come from Retry-After, and the
// passthrough error handler, so that the last response reaches the caller.
func newRetryable(retryMax int) *retryablehttp.Client {
	c := retryablehttp.NewClient()
	c.RetryMax = retryMax
	c.RetryWaitMin = 50 * time.Millisecond
	c.RetryWaitMax = 200 * time.Millisecond
	c.Logger = nil
	c.ErrorHandler = retryablehttp.PassthroughErrorHandler
	c.HTTPClient.Timeout = 30 * time.Second
	return c
}

// shouldRetryPolicy is a CheckRetry for go-retryablehttp that obeys the
// server's X-Should-Retry header and falls back to the default policy
// without it. With it, the client retries exactly the table's retryable
// rows, 409 request_in_progress included.
func shouldRetryPolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err == nil && resp != nil {
		switch resp.Header.Get("X-Should-Retry") {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
}

// retryAfterBackoff is a Backoff for go-retryablehttp that waits for the
// server's Retry-After (whole seconds) on any status, not only on 429 and
// 503 as retryablehttp.DefaultBackoff does.
func retryAfterBackoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			return time.Duration(s) * time.Second
		}
	}
	return retryablehttp.DefaultBackoff(min, max, attempt, resp)
}

// retryableDo sends method path with key (and idemKey and a JSON body when
// set) through c to the proxy and returns the final response's status and
// envelope (zero for a 2xx).
func retryableDo(t *testing.T, c *retryablehttp.Client, p *proxy, method, path, key, idemKey string, body any) (int, envelopeError, *http.Response, error) {
	t.Helper()
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	var rawBody any
	if raw != nil {
		rawBody = raw
	}
	req, err := retryablehttp.NewRequest(method, p.URL+path, rawBody)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, envelopeError{}, res, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var env struct{ Error envelopeError }
	if res.StatusCode >= 400 {
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatalf("%d: %v: %s", res.StatusCode, err, b)
		}
	}
	return res.StatusCode, env.Error, res, nil
}

// TestRetryableHTTPErrorRows: go-retryablehttp's DefaultRetryPolicy never
// retries a 4xx other than 429, retries 500 with its exponential backoff and
// 503 after the server's Retry-After, RetryMax times.
func TestRetryableHTTPErrorRows(t *testing.T) { eachFramework(t, testRetryableHTTPErrorRows) }

func testRetryableHTTPErrorRows(t *testing.T, fw string) {
	t.Parallel()
	srv := startServer(t, fw, "-rate", "1000", "-burst", "1000", "-work-delay", "10ms")
	for _, tc := range generationRows() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newProxy(t, srv)
			status, env, _, err := retryableDo(t, newRetryable(2), p, http.MethodPost, pathGenerations, tc.key, "", tc.body)
			if err != nil {
				t.Fatalf("got %v, want the last response (passthrough error handler)", err)
			}
			if status != tc.status || env.Code != tc.code || env.Type != tc.typ || env.Param != tc.param {
				t.Errorf("got %d %+v, want %d %s %s param %q", status, env, tc.status, tc.code, tc.typ, tc.param)
			}
			as := p.all(http.MethodPost, pathGenerations)
			wantAttempts := 1
			if tc.retryable {
				wantAttempts = 3
			}
			if len(as) != wantAttempts {
				t.Fatalf("got %d attempts (%s), want %d", len(as), statuses(as), wantAttempts)
			}
			for i, g := range gaps(as) {
				min := 50 * time.Millisecond << i // RetryWaitMin × 2^n
				if tc.status == http.StatusServiceUnavailable {
					min = time.Second // Retry-After: 1 wins over RetryWaitMax 200ms
				}
				if g < min {
					t.Errorf("gap %d: got %v, want at least %v", i+1, g, min)
				}
			}
			t.Logf("go-retryablehttp: %s → %d attempt(s), statuses %s, gaps %v", tc.name, len(as), statuses(as), gaps(as))
		})
	}

	// With its default ErrorHandler, the client closes the last response and
	// returns only an error: the envelope is lost to the caller.
	t.Run("default error handler drops the last 503", func(t *testing.T) {
		t.Parallel()
		p := newProxy(t, srv)
		c := newRetryable(1)
		c.ErrorHandler = nil
		_, _, res, err := retryableDo(t, c, p, http.MethodPost, pathGenerations, keyFull, "",
			map[string]any{"model": "clipia-maintenance", "prompt": "p"})
		if err == nil || !strings.Contains(err.Error(), "giving up after 2 attempt(s)") || res != nil {
			t.Errorf("got response %v, error %v; want no response and \"giving up after 2 attempt(s)\"", res, err)
		}
		if got := p.count(http.MethodPost, pathGenerations); got != 2 {
			t.Errorf("got %d attempts, want 2", got)
		}
	})
}

// TestRetryableHTTPRateLimit: with -rate 0.2 -burst 1, a second request at
// once gets 429 with Retry-After: 5; the client waits those 5 s (above its
// RetryWaitMax of 200 ms) and the retry succeeds. So does the client with
// the X-Should-Retry policy. (A token every 5 s: a loaded machine does not
// refill the bucket between two requests, as it could with -rate 1.)
func TestRetryableHTTPRateLimit(t *testing.T) { eachFramework(t, testRetryableHTTPRateLimit) }

func testRetryableHTTPRateLimit(t *testing.T, fw string) {
	t.Parallel()
	srv := startServer(t, fw, "-rate", "0.2", "-burst", "1")
	p := newProxy(t, srv)
	const path = "/v1/models"
	c := newRetryable(3)
	for i := range 2 {
		status, env, _, err := retryableDo(t, c, p, http.MethodGet, path, keyOther, "", nil)
		if err != nil || status != http.StatusOK {
			t.Fatalf("request %d: got %d %+v %v, want 200", i+1, status, env, err)
		}
	}
	as := p.all(http.MethodGet, path)
	if statuses(as) != "200 429 200" {
		t.Fatalf("got statuses %s, want 200 429 200", statuses(as))
	}
	if got := as[1].RespHeader.Get("Retry-After"); got != "5" {
		t.Errorf("got Retry-After %q, want 5", got)
	}
	if g := as[2].At.Sub(as[1].At); g < 5*time.Second {
		t.Errorf("got %v between the 429 and the retry, want at least the Retry-After of 5s", g)
	}
	t.Logf("go-retryablehttp: 429 → statuses %s, gaps %v", statuses(as), gaps(as))

	// The X-Should-Retry policy does the same: the bucket is empty again.
	c.CheckRetry, c.Backoff = shouldRetryPolicy, retryAfterBackoff
	if status, env, _, err := retryableDo(t, c, p, http.MethodGet, path, keyOther, "", nil); err != nil || status != http.StatusOK {
		t.Fatalf("X-Should-Retry policy: got %d %+v %v, want 200", status, env, err)
	}
	as = p.all(http.MethodGet, path)[3:]
	if statuses(as) != "429 200" {
		t.Fatalf("X-Should-Retry policy: got statuses %s, want 429 200", statuses(as))
	}
	if g := gaps(as)[0]; g < 5*time.Second {
		t.Errorf("X-Should-Retry policy: got %v between the 429 and the retry, want at least 5s", g)
	}
}

// TestRetryableHTTPIdempotency: DefaultRetryPolicy sends both 409 rows once:
// it does not retry request_in_progress, which the contract marks retryable.
// A CheckRetry that obeys X-Should-Retry (shouldRetryPolicy, with
// retryAfterBackoff) retries it once a second until the replay, and still
// sends idempotency_key_reuse once.
func TestRetryableHTTPIdempotency(t *testing.T) { eachFramework(t, testRetryableHTTPIdempotency) }

func testRetryableHTTPIdempotency(t *testing.T, fw string) {
	t.Parallel()
	srv := startServer(t, fw, "-rate", "1000", "-burst", "1000", "-work-delay", "4s")
	body := map[string]any{"model": "clipia-fast", "prompt": "rain on a window", "duration": 3}
	const cost = 3

	t.Run("default policy: request_in_progress once", func(t *testing.T) {
		t.Parallel()
		first := startInFlight(t, srv, keyFull, "interop-rh-inprogress", body, cost)
		p := newProxy(t, srv)
		status, env, _, err := retryableDo(t, newRetryable(3), p, http.MethodPost, pathGenerations, keyFull, "interop-rh-inprogress", body)
		if err != nil || status != http.StatusConflict || env.Code != "request_in_progress" {
			t.Errorf("got %d %+v %v, want 409 request_in_progress", status, env, err)
		}
		if got := p.count(http.MethodPost, pathGenerations); got != 1 {
			t.Errorf("got %d attempts, want 1", got)
		}
		// Same key, other parameters, while the first still runs: the
		// fingerprint is compared first, so this is reuse, not in progress.
		changed := map[string]any{"model": "clipia-fast", "prompt": "snow on a window", "duration": 3}
		status, env, _, err = retryableDo(t, newRetryable(3), p, http.MethodPost, pathGenerations, keyFull, "interop-rh-inprogress", changed)
		if err != nil || status != http.StatusConflict || env.Code != "idempotency_key_reuse" {
			t.Errorf("got %d %+v %v, want 409 idempotency_key_reuse", status, env, err)
		}
		if got := p.count(http.MethodPost, pathGenerations); got != 2 {
			t.Errorf("got %d attempts in all, want 2", got)
		}
		if status, b := first.wait(t); status != http.StatusCreated {
			t.Errorf("first request: got %d %s, want 201", status, b)
		}
	})
	t.Run("X-Should-Retry policy: retried until the replay", func(t *testing.T) {
		t.Parallel()
		first := startInFlight(t, srv, keyOther, "interop-rh-inprogress-2", body, cost)
		p := newProxy(t, srv)
		c := newRetryable(6)
		c.CheckRetry, c.Backoff = shouldRetryPolicy, retryAfterBackoff
		status, env, res, err := retryableDo(t, c, p, http.MethodPost, pathGenerations, keyOther, "interop-rh-inprogress-2", body)
		if err != nil || status != http.StatusCreated || res.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("got %d %+v %v, want the replayed 201", status, env, err)
		}
		if status, b := first.wait(t); status != http.StatusCreated {
			t.Errorf("first request: got %d %s, want 201", status, b)
		}
		as := p.all(http.MethodPost, pathGenerations)
		if len(as) < 2 {
			t.Fatalf("got %d attempts (%s), want at least one 409 then the 201", len(as), statuses(as))
		}
		for i, g := range gaps(as) {
			if g < time.Second {
				t.Errorf("gap %d: got %v, want at least the Retry-After of 1s", i+1, g)
			}
		}
		if got, want := srv.balance(t, keyOther), int64(startCredits-cost); got != want {
			t.Errorf("got balance %d, want %d (charged once)", got, want)
		}
		// The same policy still sends a changed request once.
		changed := map[string]any{"model": "clipia-fast", "prompt": "fog on a window", "duration": 3}
		p2 := newProxy(t, srv)
		status, env, _, err = retryableDo(t, c, p2, http.MethodPost, pathGenerations, keyOther, "interop-rh-inprogress-2", changed)
		if err != nil || status != http.StatusConflict || env.Code != "idempotency_key_reuse" {
			t.Errorf("got %d %+v %v, want 409 idempotency_key_reuse", status, env, err)
		}
		if got := p2.count(http.MethodPost, pathGenerations); got != 1 {
			t.Errorf("reuse: got %d attempts, want 1", got)
		}
		t.Logf("go-retryablehttp + X-Should-Retry policy: 409 request_in_progress → %d attempts, statuses %s, gaps %v", len(as), statuses(as), gaps(as))
	})
}

// TestRetryableHTTPShouldRetryPolicyRows: with the X-Should-Retry policy the
// error rows keep the default's attempt counts (4xx once, 500 and 503
// retried): the header and the status agree on every other row.
func TestRetryableHTTPShouldRetryPolicyRows(t *testing.T) {
	eachFramework(t, testRetryableHTTPShouldRetryPolicyRows)
}

func testRetryableHTTPShouldRetryPolicyRows(t *testing.T, fw string) {
	t.Parallel()
	srv := startServer(t, fw, "-rate", "1000", "-burst", "1000", "-work-delay", "10ms")
	for _, tc := range generationRows() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newProxy(t, srv)
			c := newRetryable(2)
			c.CheckRetry, c.Backoff = shouldRetryPolicy, retryAfterBackoff
			status, env, _, err := retryableDo(t, c, p, http.MethodPost, pathGenerations, tc.key, "", tc.body)
			if err != nil || status != tc.status || env.Code != tc.code {
				t.Errorf("got %d %+v %v, want %d %s", status, env, err, tc.status, tc.code)
			}
			want := 1
			if tc.retryable {
				want = 3
			}
			if got := p.count(http.MethodPost, pathGenerations); got != want {
				t.Errorf("got %d attempts, want %d", got, want)
			}
		})
	}
}
