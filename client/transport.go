package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/google/uuid"
)

// HeaderIdempotencyKey is the request header that makes a retry of an unsafe
// request safe: the server runs the request once per key.
const HeaderIdempotencyKey = "Idempotency-Key"

// Defaults of [TransportConfig].
const (
	DefaultMaxAttempts     = 4
	DefaultMaxWait         = 30 * time.Second
	DefaultBaseDelay       = 500 * time.Millisecond
	DefaultMaxDelay        = 8 * time.Second
	DefaultMaxBufferedBody = 1 << 20
)

// drainLimit is how much of a retried response's body is read before it is
// closed, so that the connection can be reused; longer bodies are just
// closed.
const drainLimit = 64 << 10

// TransportConfig configures a [Transport]. The zero value is valid: every
// zero field means the default documented on it.
type TransportConfig struct {
	// Base sends each attempt. Nil means http.DefaultTransport.
	Base http.RoundTripper

	// MaxAttempts caps the attempts of one request, the first included.
	// Default 4 (three retries); 1 turns retrying off.
	MaxAttempts int

	// MaxWait caps the total time one request spends waiting between
	// attempts. A retry whose wait would go past it is not made; the last
	// response is returned instead. Default 30s.
	MaxWait time.Duration

	// BaseDelay and MaxDelay shape the backoff used when a retryable
	// response has no Retry-After: before retry n (1, 2, …) the transport
	// waits a uniformly random time in [0, min(MaxDelay, BaseDelay·2ⁿ⁻¹)]
	// ("full jitter"). Defaults 500ms and 8s.
	BaseDelay time.Duration
	MaxDelay  time.Duration

	// MaxBufferedBody caps the bytes of a request body that are held in
	// memory to replay it, for requests without GetBody (http.NewRequest
	// sets GetBody for *bytes.Buffer, *bytes.Reader and *strings.Reader
	// bodies, which are never buffered). A longer body is sent once, never
	// retried. Default 1 MiB.
	MaxBufferedBody int64

	// NoIdempotencyKey turns off adding an Idempotency-Key header to unsafe
	// requests (every method but GET, HEAD, OPTIONS and TRACE) that have
	// none. Without a key a retried POST may run twice on the server.
	NoIdempotencyKey bool

	// NewIdempotencyKey makes the key added to an unsafe request. Nil means
	// a random UUID (uuid.NewString).
	NewIdempotencyKey func() string

	// Sleep waits d or until ctx is done, returning ctx's error then. Nil
	// means a timer. Tests inject one that records the waits.
	Sleep func(ctx context.Context, d time.Duration) error

	// Rand returns a uniformly random int64 in [0, n), n > 0, for the
	// jitter. Nil means math/rand/v2's Int64N. It must be safe for
	// concurrent use when the Transport is.
	Rand func(n int64) int64

	// Now is the clock the request's deadline is compared against. Nil
	// means time.Now.
	Now func() time.Time
}

// Transport is an http.RoundTripper that retries the retryable rows of the
// error table (see the package documentation) and adds an Idempotency-Key to
// unsafe requests. It never changes the caller's *http.Request: each attempt
// is a clone.
//
// A response is retried when X-Should-Retry says "true", or, without that
// header, when its status is 429, 500 or 503 (or another 5xx, as gateways
// send), or when it is a 409 whose body's code is request_in_progress. It
// is never retried when X-Should-Retry says "false", nor for any other
// status. The wait is Retry-After when the response has one, else the
// backoff. No retry is made when the attempts are used up, when the wait
// would exceed the remaining MaxWait, when it would end at or after the
// request context's deadline, or when the body cannot be replayed: then the
// last response is returned as received, for the caller to read with
// [Parse]. The bodies of retried responses are drained and closed. Errors
// from the base transport (no response) are returned as they are, never
// retried: the request may have reached the server.
//
// A Transport is safe for concurrent use when its Base, Sleep, Rand, Now
// and NewIdempotencyKey are (the defaults are).
type Transport struct {
	base        http.RoundTripper
	maxAttempts int
	maxWait     time.Duration
	baseDelay   time.Duration
	maxDelay    time.Duration
	maxBuffered int64
	noKey       bool
	newKey      func() string
	sleep       func(context.Context, time.Duration) error
	rand        func(int64) int64
	now         func() time.Time
}

// NewTransport returns a Transport configured by cfg. It returns an error
// for negative limits, or a MaxDelay below BaseDelay.
func NewTransport(cfg TransportConfig) (*Transport, error) {
	switch {
	case cfg.MaxAttempts < 0:
		return nil, fmt.Errorf("client: MaxAttempts %d is negative", cfg.MaxAttempts)
	case cfg.MaxWait < 0:
		return nil, fmt.Errorf("client: MaxWait %v is negative", cfg.MaxWait)
	case cfg.BaseDelay < 0:
		return nil, fmt.Errorf("client: BaseDelay %v is negative", cfg.BaseDelay)
	case cfg.MaxDelay < 0:
		return nil, fmt.Errorf("client: MaxDelay %v is negative", cfg.MaxDelay)
	case cfg.MaxBufferedBody < 0:
		return nil, fmt.Errorf("client: MaxBufferedBody %d is negative", cfg.MaxBufferedBody)
	}
	t := &Transport{
		base:        cfg.Base,
		maxAttempts: cfg.MaxAttempts,
		maxWait:     cfg.MaxWait,
		baseDelay:   cfg.BaseDelay,
		maxDelay:    cfg.MaxDelay,
		maxBuffered: cfg.MaxBufferedBody,
		noKey:       cfg.NoIdempotencyKey,
		newKey:      cfg.NewIdempotencyKey,
		sleep:       cfg.Sleep,
		rand:        cfg.Rand,
		now:         cfg.Now,
	}
	if t.base == nil {
		t.base = http.DefaultTransport
	}
	if t.maxAttempts == 0 {
		t.maxAttempts = DefaultMaxAttempts
	}
	if t.maxWait == 0 {
		t.maxWait = DefaultMaxWait
	}
	if t.baseDelay == 0 {
		t.baseDelay = DefaultBaseDelay
	}
	if t.maxDelay == 0 {
		t.maxDelay = max(DefaultMaxDelay, t.baseDelay)
	}
	if t.maxDelay < t.baseDelay {
		return nil, fmt.Errorf("client: MaxDelay %v is below BaseDelay %v", t.maxDelay, t.baseDelay)
	}
	if t.maxBuffered == 0 {
		t.maxBuffered = DefaultMaxBufferedBody
	}
	if t.newKey == nil {
		t.newKey = uuid.NewString
	}
	if t.sleep == nil {
		t.sleep = sleepContext
	}
	if t.rand == nil {
		t.rand = rand.Int64N
	}
	if t.now == nil {
		t.now = time.Now
	}
	return t, nil
}

func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// RoundTrip sends req, retrying as described on [Transport].
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	body, err := t.replayable(req)
	if err != nil {
		return nil, err
	}
	key := ""
	if !t.noKey && isUnsafe(req.Method) && req.Header.Get(HeaderIdempotencyKey) == "" {
		key = t.newKey()
	}
	var waited time.Duration
	for attempt := 1; ; attempt++ {
		r := req.Clone(ctx)
		if key != "" {
			r.Header.Set(HeaderIdempotencyKey, key)
		}
		if attempt > 1 || body.buffered {
			if r.Body, err = body.open(); err != nil {
				return nil, fmt.Errorf("client: replaying the request body: %w", err)
			}
			r.GetBody = body.get
			if body.buffered {
				r.ContentLength = int64(len(body.buf))
			}
		} else if body.prefix != nil {
			r.Body = body.prefix
		}
		res, err := t.base.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		if res == nil {
			return nil, errNoResponse
		}
		if attempt >= t.maxAttempts || !body.canReplay {
			return res, nil
		}
		wait, ok := t.retryWait(res, attempt)
		if !ok || waited+wait > t.maxWait {
			return res, nil
		}
		if dl, has := ctx.Deadline(); has && !t.now().Add(wait).Before(dl) {
			return res, nil
		}
		drainClose(res.Body)
		if err := t.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("client: waiting %v to retry %s %s after a %d: %w",
				wait, req.Method, req.URL.Redacted(), res.StatusCode, err)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		waited += wait
	}
}

// retryWait decides whether res is retried, and after how long.
func (t *Transport) retryWait(res *http.Response, attempt int) (time.Duration, bool) {
	if !t.shouldRetry(res) {
		return 0, false
	}
	if ra := parseRetryAfter(res.Header.Get(errorsx.HeaderRetryAfter), t.now()); ra > 0 {
		return ra, true
	}
	return t.backoff(attempt), true
}

func (t *Transport) shouldRetry(res *http.Response) bool {
	if sr := parseShouldRetry(res.Header); sr != nil {
		return *sr
	}
	switch {
	case res.StatusCode < 400:
		return false
	case res.StatusCode == http.StatusConflict:
		// Two rows share 409; only the body tells them apart.
		return peekCode(res) == errorsx.CodeRequestInProgress
	}
	return Classify(res.StatusCode, nil).Retryable()
}

// backoff is full jitter: uniform in [0, min(maxDelay, baseDelay·2^(attempt-1))].
func (t *Transport) backoff(attempt int) time.Duration {
	ceiling := t.baseDelay
	for i := 1; i < attempt && ceiling < t.maxDelay; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, t.maxDelay)
	if ceiling <= 0 {
		return 0
	}
	return time.Duration(t.rand(int64(ceiling) + 1))
}

// peekCode reads the code of an error body without consuming it: the bytes
// read are put back in front of the rest of the body.
func peekCode(res *http.Response) errorsx.Code {
	if res.Body == nil || res.Body == http.NoBody {
		return ""
	}
	orig := res.Body
	buf, err := io.ReadAll(io.LimitReader(orig, MaxErrorBody))
	var rest io.Reader = orig
	if err != nil {
		rest = errReader{err}
	}
	res.Body = &readCloser{Reader: io.MultiReader(bytes.NewReader(buf), rest), Closer: orig}
	ae, perr := parse(res.StatusCode, res.Header, buf, err, false, time.Time{})
	if perr != nil {
		return ""
	}
	return ae.Code
}

type readCloser struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func drainClose(body io.ReadCloser) {
	if body == nil {
		return
	}
	_, _ = io.CopyN(io.Discard, body, drainLimit)
	_ = body.Close()
}

func isUnsafe(method string) bool {
	switch method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// replayBody knows how to send a request body again.
type replayBody struct {
	canReplay bool
	buffered  bool   // buf holds the whole body
	buf       []byte // the buffered body
	get       func() (io.ReadCloser, error)
	prefix    io.ReadCloser // first-attempt body when it was too long to buffer
}

func (b *replayBody) open() (io.ReadCloser, error) {
	if b.get == nil {
		return http.NoBody, nil
	}
	return b.get()
}

// replayable prepares req's body for replay: nothing to do without a body,
// GetBody when the request has it, else a buffer of at most maxBuffered
// bytes. A longer body is sent once: canReplay is false.
func (t *Transport) replayable(req *http.Request) (*replayBody, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return &replayBody{canReplay: true}, nil
	}
	if req.GetBody != nil {
		return &replayBody{canReplay: true, get: req.GetBody}, nil
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, t.maxBuffered+1))
	if err != nil {
		_ = req.Body.Close()
		return nil, fmt.Errorf("client: reading the request body: %w", err)
	}
	if int64(len(buf)) > t.maxBuffered {
		return &replayBody{prefix: &readCloser{
			Reader: io.MultiReader(bytes.NewReader(buf), req.Body),
			Closer: req.Body,
		}}, nil
	}
	if err := req.Body.Close(); err != nil {
		return nil, fmt.Errorf("client: closing the request body: %w", err)
	}
	b := &replayBody{canReplay: true, buffered: true, buf: buf}
	b.get = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	return b, nil
}

var _ http.RoundTripper = (*Transport)(nil)

// errNoResponse guards against a base RoundTripper that breaks its contract.
var errNoResponse = errors.New("client: base transport returned neither a response nor an error")
