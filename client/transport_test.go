package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/clipia/apiguard/client"
	"github.com/clipia/apiguard/errorsx"
	"github.com/google/uuid"
)

func newTransport(t testing.TB, cfg client.TransportConfig) *client.Transport {
	t.Helper()
	tr, err := client.NewTransport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func send(t *testing.T, tr http.RoundTripper, req *http.Request) *http.Response {
	t.Helper()
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// TestTransportAttemptsPerRow sends one request per row and method through
// the transport to the real renderer and counts the attempts the server
// saw: the retryable rows are tried MaxAttempts times, after Retry-After
// when the response has one, else after the jittered backoff; the others
// exactly once.
func TestTransportAttemptsPerRow(t *testing.T) {
	const attempts = 3
	// With maxRand, the backoff waits are exactly BaseDelay·2ⁿ⁻¹.
	backoff := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}
	cases := []struct {
		code      errorsx.Code
		query     string
		wantTries int
		wantWaits []time.Duration
	}{
		{errorsx.CodeInvalidRequest, "param=prompt", 1, nil},
		{errorsx.CodeInvalidAPIKey, "", 1, nil},
		{errorsx.CodeInsufficientCredits, "", 1, nil},
		{errorsx.CodeInsufficientScope, "", 1, nil},
		{errorsx.CodeNotFound, "", 1, nil},
		{errorsx.CodeIdempotencyKeyReuse, "", 1, nil},
		{errorsx.CodeRequestInProgress, "wait=2s", attempts, []time.Duration{2 * time.Second, 2 * time.Second}},
		{errorsx.CodeRequestInProgress, "", attempts, backoff},
		{errorsx.CodeModelInputInvalid, "param=duration", 1, nil},
		{errorsx.CodeRateLimitExceeded, "wait=1500ms", attempts, []time.Duration{2 * time.Second, 2 * time.Second}},
		{errorsx.CodeRateLimitExceeded, "", attempts, []time.Duration{time.Second, time.Second}},
		{errorsx.CodeInternal, "", attempts, backoff},
		{errorsx.CodeServiceUnavailable, "wait=1s", attempts, []time.Duration{time.Second, time.Second}},
		{errorsx.CodeServiceUnavailable, "", attempts, []time.Duration{time.Second, time.Second}}, // the renderer's least wait
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		for _, tc := range cases {
			t.Run(method+" "+string(tc.code)+" "+tc.query, func(t *testing.T) {
				a := newAPI(t, errorsx.HandlerConfig{})
				var s sleeps
				tr := newTransport(t, client.TransportConfig{
					MaxAttempts: attempts, BaseDelay: 100 * time.Millisecond,
					Sleep: s.sleep, Rand: maxRand,
				})
				var body io.Reader
				if method == http.MethodPost {
					body = strings.NewReader(`{"model":"clipia-fast","prompt":"a cat"}`)
				}
				req, err := http.NewRequest(method, a.url(tc.code, tc.query), body)
				if err != nil {
					t.Fatal(err)
				}
				res := send(t, tr, req)
				if got := len(a.hitsOf(tc.code)); got != tc.wantTries {
					t.Errorf("got %d attempts, want %d", got, tc.wantTries)
				}
				if got := s.got(); !slices.Equal(got, tc.wantWaits) {
					t.Errorf("got waits %v, want %v", got, tc.wantWaits)
				}
				// The caller gets the last response, whole, and can parse it.
				ae, err := client.Parse(res)
				if err != nil {
					t.Fatalf("Parse of the last response: %v", err)
				}
				if ae.Code != tc.code {
					t.Errorf("got code %s from the last response, want %s", ae.Code, tc.code)
				}
			})
		}
	}
}

// TestTransportStopsRetryingOnSuccess: a 503 then a 201 is two attempts,
// and the caller sees the 201.
func TestTransportStopsRetryingOnSuccess(t *testing.T) {
	a := newAPI(t, errorsx.HandlerConfig{})
	var s sleeps
	tr := newTransport(t, client.TransportConfig{Sleep: s.sleep, Rand: maxRand})
	req, _ := http.NewRequest(http.MethodPost, a.url(errorsx.CodeServiceUnavailable, "wait=1s&ok_after=1"), strings.NewReader(`{}`))
	res := send(t, tr, req)
	if res.StatusCode != http.StatusCreated {
		t.Errorf("got status %d, want 201", res.StatusCode)
	}
	if got := len(a.hitsOf(errorsx.CodeServiceUnavailable)); got != 2 {
		t.Errorf("got %d attempts, want 2", got)
	}
	if err := client.CheckResponse(res); err != nil {
		t.Errorf("CheckResponse: %v", err)
	}
}

// TestTransportDecisions covers what a server other than the renderer may
// send: X-Should-Retry overrides the status either way; a 409 is told apart
// by its body; statuses off the table are classified.
func TestTransportDecisions(t *testing.T) {
	inProgress := `{"error":{"type":"idempotency_error","code":"request_in_progress","message":"m"}}`
	reuse := `{"error":{"type":"idempotency_error","code":"idempotency_key_reuse","message":"m"}}`
	cases := []struct {
		name      string
		status    int
		header    http.Header
		body      string
		wantTries int
	}{
		{"500 with X-Should-Retry false", 500, http.Header{"X-Should-Retry": {"false"}}, "", 1},
		{"429 with X-Should-Retry false", 429, http.Header{"X-Should-Retry": {"false"}, "Retry-After": {"1"}}, "", 1},
		{"400 with X-Should-Retry true", 400, http.Header{"X-Should-Retry": {"true"}}, "", 3},
		{"409 in progress without the header", 409, nil, inProgress, 3},
		{"409 reuse without the header", 409, nil, reuse, 1},
		{"409 unknown code without the header", 409, nil, `{"error":{"code":"other","message":"m"}}`, 1},
		{"409 HTML without the header", 409, http.Header{"Content-Type": {"text/html"}}, "<html>conflict</html>", 1},
		{"409 empty without the header", 409, nil, "", 1},
		{"409 reuse with X-Should-Retry true", 409, http.Header{"X-Should-Retry": {"true"}}, reuse, 3},
		{"X-Should-Retry garbage is ignored", 404, http.Header{"X-Should-Retry": {"maybe"}}, "", 1},
		{"502 from a gateway", 502, nil, "<html>bad gateway</html>", 3},
		{"504 from a gateway", 504, nil, "", 3},
		{"418", 418, nil, "", 1},
		{"200", 200, nil, "{}", 1},
		{"304", 304, nil, "", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var tries atomic.Int32
			base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				tries.Add(1)
				return stubResponse(r, tc.status, tc.header.Clone(), tc.body), nil
			})
			var s sleeps
			tr := newTransport(t, client.TransportConfig{Base: base, MaxAttempts: 3, Sleep: s.sleep, Rand: maxRand})
			req, _ := http.NewRequest(http.MethodGet, "http://api.test/x", nil)
			res, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			if got := int(tries.Load()); got != tc.wantTries {
				t.Errorf("got %d attempts, want %d", got, tc.wantTries)
			}
			// The last body reaches the caller whole, peeked or not.
			b, err := io.ReadAll(res.Body)
			if err != nil || string(b) != tc.body {
				t.Errorf("got last body %q (%v), want %q", b, err, tc.body)
			}
		})
	}
}

func TestTransportIdempotencyKey(t *testing.T) {
	fixedKey := func() string { return "key_fixed" }
	cases := []struct {
		name     string
		method   string
		cfg      client.TransportConfig
		given    string // the caller's Idempotency-Key
		wantKey  string // "" none, "uuid" a random UUID
		wantHits int
	}{
		{"POST gets a UUID", http.MethodPost, client.TransportConfig{}, "", "uuid", 3},
		{"PUT gets a UUID", http.MethodPut, client.TransportConfig{}, "", "uuid", 3},
		{"the caller's key is kept", http.MethodPost, client.TransportConfig{}, "caller-key-1", "caller-key-1", 3},
		{"NewIdempotencyKey is used", http.MethodPost, client.TransportConfig{NewIdempotencyKey: fixedKey}, "", "key_fixed", 3},
		{"GET gets none", http.MethodGet, client.TransportConfig{}, "", "", 3},
		{"HEAD gets none", http.MethodHead, client.TransportConfig{}, "", "", 3},
		{"NoIdempotencyKey", http.MethodPost, client.TransportConfig{NoIdempotencyKey: true}, "", "", 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPI(t, errorsx.HandlerConfig{})
			var s sleeps
			cfg := tc.cfg
			cfg.MaxAttempts, cfg.Sleep, cfg.Rand = 3, s.sleep, maxRand
			tr := newTransport(t, cfg)
			var body io.Reader
			if tc.method == http.MethodPost || tc.method == http.MethodPut {
				body = strings.NewReader(`{"prompt":"a cat"}`)
			}
			req, _ := http.NewRequest(tc.method, a.url(errorsx.CodeInternal, ""), body)
			if tc.given != "" {
				req.Header.Set("Idempotency-Key", tc.given)
			}
			send(t, tr, req)
			hits := a.hitsOf(errorsx.CodeInternal)
			if len(hits) != tc.wantHits {
				t.Fatalf("got %d attempts, want %d", len(hits), tc.wantHits)
			}
			for i, h := range hits {
				if h.key != hits[0].key {
					t.Errorf("attempt %d: got key %q, want the first attempt's %q", i+1, h.key, hits[0].key)
				}
			}
			switch got := hits[0].key; tc.wantKey {
			case "uuid":
				if _, err := uuid.Parse(got); err != nil {
					t.Errorf("got key %q, want a UUID", got)
				}
			default:
				if got != tc.wantKey {
					t.Errorf("got key %q, want %q", got, tc.wantKey)
				}
			}
			if got := req.Header.Get("Idempotency-Key"); got != tc.given {
				t.Errorf("the caller's request was changed: Idempotency-Key %q, want %q", got, tc.given)
			}
		})
	}
	t.Run("each request gets its own key", func(t *testing.T) {
		a := newAPI(t, errorsx.HandlerConfig{})
		tr := newTransport(t, client.TransportConfig{MaxAttempts: 1})
		for range 2 {
			req, _ := http.NewRequest(http.MethodPost, a.url(errorsx.CodeNotFound, ""), nil)
			send(t, tr, req)
		}
		hits := a.hitsOf(errorsx.CodeNotFound)
		if len(hits) != 2 || hits[0].key == hits[1].key || hits[0].key == "" {
			t.Errorf("got keys %q and %q, want two different keys", hits[0].key, hits[1].key)
		}
	})
}

// onlyReader hides the type of its reader, so http.NewRequest sets no
// GetBody and the transport must buffer.
type onlyReader struct{ r io.Reader }

func (o *onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestTransportReplaysTheBody(t *testing.T) {
	payload := `{"model":"clipia-pro","prompt":"` + strings.Repeat("a cat ", 100) + `"}`
	cases := []struct {
		name      string
		body      func() io.Reader
		maxBuf    int64
		wantTries int
	}{
		{"GetBody (strings.Reader)", func() io.Reader { return strings.NewReader(payload) }, 0, 3},
		{"GetBody (bytes.Buffer)", func() io.Reader { return bytes.NewBufferString(payload) }, 0, 3},
		{"buffered", func() io.Reader { return &onlyReader{strings.NewReader(payload)} }, 0, 3},
		{"buffered, exactly at the limit", func() io.Reader { return &onlyReader{strings.NewReader(payload)} }, int64(len(payload)), 3},
		{"over the limit: sent once, whole", func() io.Reader { return &onlyReader{strings.NewReader(payload)} }, int64(len(payload)) - 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPI(t, errorsx.HandlerConfig{})
			var s sleeps
			tr := newTransport(t, client.TransportConfig{MaxAttempts: 3, MaxBufferedBody: tc.maxBuf, Sleep: s.sleep, Rand: maxRand})
			req, _ := http.NewRequest(http.MethodPost, a.url(errorsx.CodeServiceUnavailable, ""), tc.body())
			send(t, tr, req)
			hits := a.hitsOf(errorsx.CodeServiceUnavailable)
			if len(hits) != tc.wantTries {
				t.Fatalf("got %d attempts, want %d", len(hits), tc.wantTries)
			}
			for i, h := range hits {
				if h.body != payload {
					t.Errorf("attempt %d: got a %d-byte body, want the %d-byte payload", i+1, len(h.body), len(payload))
				}
			}
		})
	}
}

func TestTransportBodyReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	called := false
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		called = true
		return stubResponse(r, 200, nil, ""), nil
	})
	tr := newTransport(t, client.TransportConfig{Base: base})
	req, _ := http.NewRequest(http.MethodPost, "http://api.test/x", &onlyReader{iotest.ErrReader(boom)})
	if _, err := tr.RoundTrip(req); !errors.Is(err, boom) {
		t.Errorf("got %v, want the body's read error", err)
	}
	if called {
		t.Error("the request was sent with a broken body")
	}
}

// TestTransportRespectsTheDeadline: a wait that would end at or after the
// context's deadline is not taken: the last response comes back at once.
func TestTransportRespectsTheDeadline(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name      string
		deadline  time.Duration // from now; 0 means none
		query     string
		code      errorsx.Code
		wantTries int
	}{
		{"Retry-After 5s, deadline in 3s", 3 * time.Second, "wait=5s", errorsx.CodeRateLimitExceeded, 1},
		{"Retry-After 2s, deadline in 3s: one retry", 3 * time.Second, "wait=2s", errorsx.CodeRateLimitExceeded, 2},
		{"Retry-After 1s, deadline in 10s: all retries", 10 * time.Second, "wait=1s", errorsx.CodeRateLimitExceeded, 3},
		{"Retry-After exactly at the deadline", 2 * time.Second, "wait=2s", errorsx.CodeServiceUnavailable, 1},
		{"no deadline: MaxWait 45s allows one 30s wait", 0, "wait=30s", errorsx.CodeRateLimitExceeded, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPI(t, errorsx.HandlerConfig{})
			var s sleeps
			// The fake clock advances by each wait taken.
			var mu sync.Mutex
			clock := now
			sleep := func(ctx context.Context, d time.Duration) error {
				mu.Lock()
				clock = clock.Add(d)
				mu.Unlock()
				return s.sleep(ctx, d)
			}
			tr := newTransport(t, client.TransportConfig{
				MaxAttempts: 3, MaxWait: 45 * time.Second, Sleep: sleep, Rand: maxRand,
				Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock },
			})
			ctx := context.Background()
			if tc.deadline > 0 {
				// A deadline on the fake clock, never reached in real time.
				ctx = deadlineOnly{ctx, now.Add(tc.deadline)}
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.url(tc.code, tc.query), nil)
			res, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if got := len(a.hitsOf(tc.code)); got != tc.wantTries {
				t.Errorf("got %d attempts (waits %v), want %d", got, s.got(), tc.wantTries)
			}
			if res.StatusCode != errorsx.New(tc.code).Status() {
				t.Errorf("got status %d, want the last error response", res.StatusCode)
			}
		})
	}
}

// deadlineOnly reports a deadline on the fake clock but is never done, so
// that the test decides by the transport's arithmetic alone.
type deadlineOnly struct {
	context.Context
	at time.Time
}

func (d deadlineOnly) Deadline() (time.Time, bool) { return d.at, true }
func (d deadlineOnly) Done() <-chan struct{}       { return nil }
func (d deadlineOnly) Err() error                  { return nil }

// TestTransportWaitIsCutByCancel uses the real timer: a cancelled context
// ends the wait at once, with the context's error. The cancel is timed from
// the first answer, not from the start: a first attempt slower than the
// delay (a loaded machine) was cancelled in flight, before the server
// counted it.
func TestTransportWaitIsCutByCancel(t *testing.T) {
	a := newAPI(t, errorsx.HandlerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	var stop *time.Timer
	tr := newTransport(t, client.TransportConfig{Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		res, err := http.DefaultTransport.RoundTrip(r)
		if err == nil {
			once.Do(func() { stop = time.AfterFunc(20*time.Millisecond, cancel) })
		}
		return res, err
	})})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.url(errorsx.CodeRateLimitExceeded, "wait=20s"), nil)
	defer func() {
		if stop != nil {
			stop.Stop()
		}
	}()
	start := time.Now()
	_, err := tr.RoundTrip(req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("took %v, want the wait cut short", elapsed)
	}
	if got := len(a.hitsOf(errorsx.CodeRateLimitExceeded)); got != 1 {
		t.Errorf("got %d attempts, want 1", got)
	}
}

func TestTransportCapsTotalWait(t *testing.T) {
	cases := []struct {
		name      string
		maxWait   time.Duration
		query     string
		wantTries int
		wantWaits []time.Duration
	}{
		{"two 2s waits fit in 5s", 5 * time.Second, "wait=2s", 3, []time.Duration{2 * time.Second, 2 * time.Second}},
		{"the second 2s wait does not fit in 3s", 3 * time.Second, "wait=2s", 2, []time.Duration{2 * time.Second}},
		{"a 1h Retry-After is not waited for", 0, "wait=1h", 1, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPI(t, errorsx.HandlerConfig{})
			var s sleeps
			tr := newTransport(t, client.TransportConfig{MaxAttempts: 10, MaxWait: tc.maxWait, Sleep: s.sleep, Rand: maxRand})
			req, _ := http.NewRequest(http.MethodGet, a.url(errorsx.CodeRateLimitExceeded, tc.query), nil)
			send(t, tr, req)
			if got := len(a.hitsOf(errorsx.CodeRateLimitExceeded)); got != tc.wantTries {
				t.Errorf("got %d attempts, want %d", got, tc.wantTries)
			}
			if got := s.got(); !slices.Equal(got, tc.wantWaits) {
				t.Errorf("got waits %v, want %v", got, tc.wantWaits)
			}
		})
	}
}

func TestTransportBackoffIsFullJitter(t *testing.T) {
	cases := []struct {
		name string
		rand func(int64) int64
		want []time.Duration
	}{
		{"top of the range doubles up to MaxDelay", maxRand,
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}},
		{"bottom of the range is no wait", func(int64) int64 { return 0 }, []time.Duration{0, 0, 0, 0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var asked []int64
			rnd := func(n int64) int64 { asked = append(asked, n); return tc.rand(n) }
			var s sleeps
			base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				return stubResponse(r, 500, nil, ""), nil
			})
			tr := newTransport(t, client.TransportConfig{
				Base: base, MaxAttempts: 6, MaxWait: time.Hour,
				BaseDelay: time.Second, MaxDelay: 5 * time.Second, Sleep: s.sleep, Rand: rnd,
			})
			req, _ := http.NewRequest(http.MethodGet, "http://api.test/x", nil)
			if _, err := tr.RoundTrip(req); err != nil {
				t.Fatal(err)
			}
			if got := s.got(); !slices.Equal(got, tc.want) {
				t.Errorf("got waits %v, want %v", got, tc.want)
			}
			wantAsked := []int64{int64(time.Second) + 1, int64(2*time.Second) + 1, int64(4*time.Second) + 1, int64(5*time.Second) + 1, int64(5*time.Second) + 1}
			if !slices.Equal(asked, wantAsked) {
				t.Errorf("got Rand asked for %v, want ranges [0, ceiling] %v", asked, wantAsked)
			}
		})
	}
}

// trackedBody records how a response body was used.
type trackedBody struct {
	r      io.Reader
	read   int
	eof    bool
	closed bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += n
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *trackedBody) Close() error { b.closed = true; return nil }

func TestTransportDrainsAndClosesRetriedBodies(t *testing.T) {
	var bodies []*trackedBody
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		res := stubResponse(r, 503, nil, "")
		b := &trackedBody{r: strings.NewReader(`{"error":{"type":"api_error","code":"service_unavailable","message":"down"}}`)}
		bodies = append(bodies, b)
		res.Body = b
		return res, nil
	})
	var s sleeps
	tr := newTransport(t, client.TransportConfig{Base: base, MaxAttempts: 3, Sleep: s.sleep, Rand: maxRand})
	req, _ := http.NewRequest(http.MethodGet, "http://api.test/x", nil)
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 3 {
		t.Fatalf("got %d attempts, want 3", len(bodies))
	}
	for i, b := range bodies[:2] {
		if !b.eof || !b.closed {
			t.Errorf("retried body %d: got read to EOF %v, closed %v; want both", i+1, b.eof, b.closed)
		}
	}
	if last := bodies[2]; last.closed || last.read != 0 {
		t.Errorf("last body: got closed %v, %d bytes read; want it untouched for the caller", last.closed, last.read)
	}
	res.Body.Close()
}

func TestTransportBaseErrorIsNotRetried(t *testing.T) {
	boom := errors.New("connection refused")
	var tries int
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		tries++
		return nil, boom
	})
	tr := newTransport(t, client.TransportConfig{Base: base})
	req, _ := http.NewRequest(http.MethodPost, "http://api.test/x", strings.NewReader("{}"))
	if _, err := tr.RoundTrip(req); !errors.Is(err, boom) {
		t.Errorf("got %v, want the base error", err)
	}
	if tries != 1 {
		t.Errorf("got %d attempts, want 1", tries)
	}
}

func TestNewTransportValidates(t *testing.T) {
	cases := []struct {
		name    string
		cfg     client.TransportConfig
		wantErr string
	}{
		{"zero value", client.TransportConfig{}, ""},
		{"one attempt", client.TransportConfig{MaxAttempts: 1}, ""},
		{"BaseDelay above the default MaxDelay raises it", client.TransportConfig{BaseDelay: time.Minute}, ""},
		{"negative MaxAttempts", client.TransportConfig{MaxAttempts: -1}, "MaxAttempts"},
		{"negative MaxWait", client.TransportConfig{MaxWait: -time.Second}, "MaxWait"},
		{"negative BaseDelay", client.TransportConfig{BaseDelay: -time.Second}, "BaseDelay"},
		{"negative MaxDelay", client.TransportConfig{MaxDelay: -time.Second}, "MaxDelay"},
		{"MaxDelay below BaseDelay", client.TransportConfig{BaseDelay: time.Second, MaxDelay: time.Millisecond}, "below BaseDelay"},
		{"negative MaxBufferedBody", client.TransportConfig{MaxBufferedBody: -1}, "MaxBufferedBody"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := client.NewTransport(tc.cfg)
			switch {
			case tc.wantErr == "" && (err != nil || tr == nil):
				t.Errorf("got %v, want a transport", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %v, want an error about %s", err, tc.wantErr)
			}
		})
	}
}

// TestTransportDefaultsDoNotRetryForever checks the zero config's budget:
// at most DefaultMaxAttempts attempts.
func TestTransportDefaultsDoNotRetryForever(t *testing.T) {
	a := newAPI(t, errorsx.HandlerConfig{})
	var s sleeps
	tr := newTransport(t, client.TransportConfig{Sleep: s.sleep})
	req, _ := http.NewRequest(http.MethodGet, a.url(errorsx.CodeInternal, ""), nil)
	send(t, tr, req)
	if got := len(a.hitsOf(errorsx.CodeInternal)); got != client.DefaultMaxAttempts {
		t.Errorf("got %d attempts, want %d", got, client.DefaultMaxAttempts)
	}
	for i, w := range s.got() {
		if ceiling := client.DefaultBaseDelay << i; w < 0 || w > ceiling {
			t.Errorf("wait %d: got %v, want within [0, %v]", i+1, w, ceiling)
		}
	}
}

// TestTransportConcurrentUse shares one Transport among goroutines (run
// with -race).
func TestTransportConcurrentUse(t *testing.T) {
	a := newAPI(t, errorsx.HandlerConfig{})
	var s sleeps
	tr := newTransport(t, client.TransportConfig{MaxAttempts: 2, Sleep: s.sleep})
	hc := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			q := url.Values{"wait": {"1s"}}
			req, _ := http.NewRequest(http.MethodPost, a.url(errorsx.CodeServiceUnavailable, q.Encode()), strings.NewReader(strings.Repeat("x", i)))
			res, err := hc.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		})
	}
	wg.Wait()
	hits := a.hitsOf(errorsx.CodeServiceUnavailable)
	if len(hits) != 32 {
		t.Errorf("got %d attempts, want 32", len(hits))
	}
	keys := map[string]int{}
	for _, h := range hits {
		keys[h.key]++
	}
	if len(keys) != 16 {
		t.Errorf("got %d distinct keys, want 16 (one per request, kept across its 2 attempts)", len(keys))
	}
}

// TestTransportRealDeadline uses the real clock and timer: a Retry-After
// longer than the time left is not waited for. The deadline (10s) leaves a
// loaded machine time for the first attempt; a transport that waited would
// take at least until the deadline, past the 5s bound.
func TestTransportRealDeadline(t *testing.T) {
	a := newAPI(t, errorsx.HandlerConfig{})
	tr := newTransport(t, client.TransportConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, a.url(errorsx.CodeServiceUnavailable, "wait=30s"), strings.NewReader("{}"))
	start := time.Now()
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("took %v, want the 503 back at once", elapsed)
	}
	if res.StatusCode != http.StatusServiceUnavailable || len(a.hitsOf(errorsx.CodeServiceUnavailable)) != 1 {
		t.Errorf("got status %d after %d attempts, want the 503 after 1", res.StatusCode, len(a.hitsOf(errorsx.CodeServiceUnavailable)))
	}
}
