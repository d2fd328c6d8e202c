package sdk

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82"
)

// newStripe returns an unmodified stripe-go backend whose URL is the
// proxy's, with maxRetries network retries, no logging and no telemetry.
func newStripe(p *proxy, maxRetries int64) stripe.Backend {
	return stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:               stripe.String(p.URL),
		MaxNetworkRetries: stripe.Int64(maxRetries),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
		EnableTelemetry:   stripe.Bool(false),
		HTTPClient:        &http.Client{Timeout: 30 * time.Second},
	})
}

// stripeGeneration is our 201 body as a stripe-go resource.
type stripeGeneration struct {
	stripe.APIResource
	ID     string `json:"id"`
	Object string `json:"object"`
	Cost   int64  `json:"cost"`
	Status string `json:"status"`
}

// stripeModels is the GET /v1/models body as a stripe-go resource.
type stripeModels struct {
	stripe.APIResource
	Data []struct {
		ID string `json:"id"`
	} `json:"data"`
}

// stripePostJSON sends POST /v1/generations through stripe-go's CallRaw with
// a JSON body. stripe-go form-encodes /v1 bodies and says so in
// Content-Type; params.Headers overrides that header (see
// TestStripeFormEncodedBody for what the server says to a form body).
// An empty idemKey lets stripe-go generate its own Idempotency-Key, as it
// does for every POST.
func stripePostJSON(t *testing.T, b stripe.Backend, key, idemKey string, body any, v stripe.LastResponseSetter) error {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	params := &stripe.Params{Headers: http.Header{"Content-Type": {"application/json"}}}
	if idemKey != "" {
		params.SetIdempotencyKey(idemKey)
	}
	return b.CallRaw(http.MethodPost, pathGenerations, key, raw, params, v)
}

// checkStripeError asserts that err is a *stripe.Error that read the
// envelope of the last attempt, its Request-Id included, and that its typed
// Err is what stripe-go derives from the type.
func checkStripeError(t *testing.T, err error, last attempt, status int, code, typ, param string) *stripe.Error {
	t.Helper()
	var se *stripe.Error
	if !errors.As(err, &se) {
		t.Fatalf("got error %T %v, want *stripe.Error", err, err)
	}
	env := last.envelope(t)
	if se.HTTPStatusCode != status {
		t.Errorf("got HTTPStatusCode %d, want %d", se.HTTPStatusCode, status)
	}
	if string(se.Code) != code {
		t.Errorf("got Code %q, want %q", se.Code, code)
	}
	if se.Type != stripe.ErrorType(typ) {
		t.Errorf("got Type %q, want %q", se.Type, typ)
	}
	if se.Param != param {
		t.Errorf("got Param %q, want %q", se.Param, param)
	}
	if se.Msg == "" || se.Msg != env.Message {
		t.Errorf("got Msg %q, want the envelope's %q", se.Msg, env.Message)
	}
	if want := last.RespHeader.Get("X-Request-Id"); se.RequestID == "" || se.RequestID != want || se.RequestID != last.RespHeader.Get("Request-Id") {
		t.Errorf("got RequestID %q, want the response's Request-Id and X-Request-Id %q", se.RequestID, want)
	}
	checkSanitised(t, se.Msg)

	// stripe-go knows four error types; ours beyond them get no typed Err.
	var wantErr any
	switch stripe.ErrorType(typ) {
	case stripe.ErrorTypeAPI:
		wantErr = &stripe.APIError{}
	case stripe.ErrorTypeInvalidRequest:
		wantErr = &stripe.InvalidRequestError{}
	case stripe.ErrorTypeIdempotency:
		wantErr = &stripe.IdempotencyError{}
	}
	switch {
	case wantErr == nil && se.Err != nil:
		t.Errorf("got typed Err %T, want none for type %s", se.Err, typ)
	case wantErr != nil && reflect.TypeOf(se.Err) != reflect.TypeOf(wantErr):
		t.Errorf("got typed Err %T, want %T", se.Err, wantErr)
	}
	return se
}

// TestStripeErrorRows: stripe-go's *stripe.Error reads every field of the
// envelope and the Request-Id header. With MaxNetworkRetries 2 it still
// sends every row once, the retryable 500 and 503 included: stripe-go
// retries an API error only when it is a 429 with code lock_timeout, and it
// decides that before it looks at Stripe-Should-Retry or the status.
func TestStripeErrorRows(t *testing.T) { eachFramework(t, testStripeErrorRows) }

func testStripeErrorRows(t *testing.T, fw string) {
	t.Parallel()
	srv := startServer(t, fw, "-rate", "1000", "-burst", "1000", "-work-delay", "10ms")
	for _, tc := range generationRows() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newProxy(t, srv)
			err := stripePostJSON(t, newStripe(p, 2), tc.key, "", tc.body, &stripeGeneration{})
			checkStripeError(t, err, p.last(t, http.MethodPost, pathGenerations), tc.status, tc.code, tc.typ, tc.param)
			if got := p.count(http.MethodPost, pathGenerations); got != 1 {
				t.Errorf("got %d attempts, want 1", got)
			}
		})
	}

	t.Run("201 success", func(t *testing.T) {
		t.Parallel()
		p := newProxy(t, srv)
		var g stripeGeneration
		if err := stripePostJSON(t, newStripe(p, 2), keyOther, "", map[string]any{"model": "clipia-fast", "prompt": "p", "duration": 2}, &g); err != nil {
			t.Fatalf("got %v, want 201", err)
		}
		last := p.last(t, http.MethodPost, pathGenerations)
		if !strings.HasPrefix(g.ID, "gen_") || g.Cost != 2 || g.LastResponse.StatusCode != http.StatusCreated ||
			g.LastResponse.RequestID != last.RespHeader.Get("Request-Id") {
			t.Errorf("got %+v (status %d, request id %q), want a 201 generation costing 2", g, g.LastResponse.StatusCode, g.LastResponse.RequestID)
		}
		if last.ReqHeader.Get("Idempotency-Key") == "" {
			t.Error("stripe-go sent no Idempotency-Key of its own on a POST")
		}
	})

	// What if the server also sent Stripe's own header? stripe-go still does
	// not retry: it never reaches the header for an error with a body.
	t.Run("counterfactual Stripe-Should-Retry true on 503: still one attempt", func(t *testing.T) {
		t.Parallel()
		p := newProxy(t, srv, withResponseHeader(http.StatusServiceUnavailable, "Stripe-Should-Retry", "true"))
		err := stripePostJSON(t, newStripe(p, 2), keyFull, "", map[string]any{"model": "clipia-maintenance", "prompt": "p"}, &stripeGeneration{})
		checkStripeError(t, err, p.last(t, http.MethodPost, pathGenerations), 503, "service_unavailable", "api_error", "")
		if got := p.count(http.MethodPost, pathGenerations); got != 1 {
			t.Errorf("got %d attempts, want 1", got)
		}
	})

	t.Run("GET: models and 404", func(t *testing.T) {
		t.Parallel()
		p := newProxy(t, srv)
		b := newStripe(p, 2)
		var ms stripeModels
		if err := b.Call(http.MethodGet, "/v1/models", keyReadonly, nil, &ms); err != nil || len(ms.Data) != 4 {
			t.Fatalf("GET /v1/models: got %d models, %v; want 4", len(ms.Data), err)
		}
		err := b.Call(http.MethodGet, "/v1/models/clipia-x", keyReadonly, nil, &stripeModels{})
		checkStripeError(t, err, p.last(t, http.MethodGet, "/v1/models/clipia-x"), 404, "not_found", "invalid_request_error", "")
	})

	t.Run("409 idempotency_key_reuse", func(t *testing.T) {
		t.Parallel()
		p := newProxy(t, srv)
		b := newStripe(p, 2)
		body := map[string]any{"model": "clipia-fast", "prompt": "a kite", "duration": 1}
		if err := stripePostJSON(t, b, keyFull, "interop-stripe-reuse", body, &stripeGeneration{}); err != nil {
			t.Fatalf("first request: %v", err)
		}
		body["prompt"] = "a balloon"
		err := stripePostJSON(t, b, keyFull, "interop-stripe-reuse", body, &stripeGeneration{})
		checkStripeError(t, err, p.last(t, http.MethodPost, pathGenerations), 409, "idempotency_key_reuse", "idempotency_error", "")
		if got := p.count(http.MethodPost, pathGenerations); got != 2 {
			t.Errorf("got %d attempts in all, want 2", got)
		}
	})
}

// TestStripeFormEncodedBody: stripe-go's ordinary Call form-encodes /v1
// bodies (application/x-www-form-urlencoded); the server takes JSON only and
// answers 400 invalid_request, which stripe-go reads like any other error.
func TestStripeFormEncodedBody(t *testing.T) { eachFramework(t, testStripeFormEncodedBody) }

func testStripeFormEncodedBody(t *testing.T, fw string) {
	t.Parallel()
	srv := startServer(t, fw, "-rate", "1000", "-burst", "1000")
	p := newProxy(t, srv)
	type generationParams struct {
		stripe.Params `form:"*"`
		Model         *string `form:"model"`
		Prompt        *string `form:"prompt"`
	}
	params := &generationParams{Model: stripe.String("clipia-fast"), Prompt: stripe.String("p")}
	err := newStripe(p, 2).Call(http.MethodPost, pathGenerations, keyFull, params, &stripeGeneration{})
	last := p.last(t, http.MethodPost, pathGenerations)
	se := checkStripeError(t, err, last, 400, "invalid_request", "invalid_request_error", "")
	if got := last.ReqHeader.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
		t.Errorf("got request Content-Type %q, want stripe-go's form encoding", got)
	}
	if want := "Content-Type must be application/json"; se.Msg != want {
		t.Errorf("got Msg %q, want %q", se.Msg, want)
	}
	if got := p.count(http.MethodPost, pathGenerations); got != 1 {
		t.Errorf("got %d attempts, want 1", got)
	}
}

// TestStripeRequestInProgress: 409 request_in_progress is retryable by the
// contract (X-Should-Retry: true, Retry-After: 1), but stripe-go sends it
// once even with MaxNetworkRetries 2, and maps it to *stripe.IdempotencyError.
func TestStripeRequestInProgress(t *testing.T) { eachFramework(t, testStripeRequestInProgress) }

func testStripeRequestInProgress(t *testing.T, fw string) {
	t.Parallel()
	srv := startServer(t, fw, "-rate", "1000", "-burst", "1000", "-work-delay", "4s")
	body := map[string]any{"model": "clipia-fast", "prompt": "a tide pool", "duration": 4}
	first := startInFlight(t, srv, keyFull, "interop-stripe-inprogress", body, 4)
	p := newProxy(t, srv)
	err := stripePostJSON(t, newStripe(p, 2), keyFull, "interop-stripe-inprogress", body, &stripeGeneration{})
	last := p.last(t, http.MethodPost, pathGenerations)
	checkStripeError(t, err, last, 409, "request_in_progress", "idempotency_error", "")
	if last.RespHeader.Get("X-Should-Retry") != "true" || last.RespHeader.Get("Retry-After") != "1" {
		t.Errorf("got X-Should-Retry %q, Retry-After %q; want true, 1", last.RespHeader.Get("X-Should-Retry"), last.RespHeader.Get("Retry-After"))
	}
	if got := p.count(http.MethodPost, pathGenerations); got != 1 {
		t.Errorf("got %d attempts, want 1", got)
	}
	if status, b := first.wait(t); status != http.StatusCreated {
		t.Errorf("first request: got %d %s, want 201", status, b)
	}
}

// TestStripeRateLimit: a 429 reaches the caller as *stripe.Error with type
// rate_limit_error after one attempt: stripe-go does not retry rate limits
// (only its own lock_timeout 429s).
func TestStripeRateLimit(t *testing.T) { eachFramework(t, testStripeRateLimit) }

func testStripeRateLimit(t *testing.T, fw string) {
	t.Parallel()
	srv := startServer(t, fw, "-rate", "0.2", "-burst", "1")
	p := newProxy(t, srv)
	b := newStripe(p, 2)
	const path = "/v1/models"
	if err := b.Call(http.MethodGet, path, keyNoCredits, nil, &stripeModels{}); err != nil {
		t.Fatalf("first request: %v", err)
	}
	err := b.Call(http.MethodGet, path, keyNoCredits, nil, &stripeModels{})
	se := checkStripeError(t, err, p.last(t, http.MethodGet, path), 429, "rate_limit_exceeded", "rate_limit_error", "")
	if got := se.LastResponse.Header.Get("Retry-After"); got != "5" {
		t.Errorf("got Retry-After %q, want 5", got)
	}
	if got := p.count(http.MethodGet, path); got != 2 {
		t.Errorf("got %d attempts in all, want 2", got)
	}
}
