package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clipia/apiguard/client"
	"github.com/clipia/apiguard/errorsx"
)

func addParseSeeds(f *testing.F) {
	f.Add(404, "application/json; charset=utf-8", "", "false", `{"error":{"type":"invalid_request_error","code":"not_found","message":"The requested resource was not found."}}`)
	f.Add(429, "application/json", "2", "true", `{"error":{"type":"rate_limit_error","code":"rate_limit_exceeded","message":"m","param":"x"}}`)
	f.Add(409, "application/json", "Wed, 21 Oct 2015 07:28:00 GMT", "", `{"error":{"type":"idempotency_error","code":"request_in_progress","message":"m"}}`)
	f.Add(422, "application/problem+json", "", "false", `{"type":"urn:apiguard:error:model_input_invalid","title":"Model input invalid","status":422,"detail":"d","code":"model_input_invalid","param":"duration"}`)
	f.Add(502, "text/html", "", "", "<html>bad gateway</html>")
	f.Add(500, "", "1.5", "TRUE", "")
	f.Add(200, "application/json", "", "", `{"id":"gen_1"}`)
	f.Add(418, "application/json", "-1", "maybe", `{"error":{"code":null,"message":["x"]}}`)
	f.Add(503, "application/json", "99999999999999999999", "", `{"error":{}}`)
	f.Add(0, "", "", "", "\xff\xfe")
}

// FuzzParse: whatever a response holds, Parse never panics and returns
// exactly one of an *APIError (whose fields are filled and whose Err is a
// catalogue row) or an *UnexpectedResponseError.
func FuzzParse(f *testing.F) {
	addParseSeeds(f)
	f.Fuzz(func(t *testing.T, status int, ct, retryAfter, shouldRetry, body string) {
		h := http.Header{}
		for k, v := range map[string]string{"Content-Type": ct, "Retry-After": retryAfter, "X-Should-Retry": shouldRetry} {
			if v != "" {
				h.Set(k, v)
			}
		}
		ae, err := client.Parse(stubResponse(nil, status, h, body))
		if (ae == nil) == (err == nil) {
			t.Fatalf("got %v and %v, want exactly one", ae, err)
		}
		if err != nil {
			var ue *client.UnexpectedResponseError
			if !errors.As(err, &ue) || ue.Status != status || err.Error() == "" {
				t.Fatalf("got %T %v, want an UnexpectedResponseError for status %d", err, err, status)
			}
			if len(err.Error()) > 1000 {
				t.Fatalf("got a %d-byte error message", len(err.Error()))
			}
			_ = ue.Err()
			return
		}
		if ae.Status != status || status < 400 {
			t.Fatalf("got status %d from a %d response", ae.Status, status)
		}
		if ae.Code == "" || ae.Type == "" || ae.Message == "" {
			t.Fatalf("got empty fields: %+v", ae)
		}
		if ae.RetryAfter < 0 {
			t.Fatalf("got a negative RetryAfter %v", ae.RetryAfter)
		}
		x := ae.Err()
		if _, ok := errorsx.Lookup(x.Code()); !ok {
			t.Fatalf("Err() is off the catalogue: %v", x)
		}
		if ae.Known() && (x.Code() != ae.Code || x.Status() != status) {
			t.Fatalf("a known code came back as %s %d", x.Code(), x.Status())
		}
		_ = ae.Error()
		_ = ae.Retryable()
		// Rendering the parsed value gives a well-formed envelope again.
		if _, err := client.Parse(stubResponse(nil, x.Status(), http.Header{"Content-Type": {errorsx.ContentTypeJSON}},
			string(errorsx.AppendEnvelope(nil, x)))); err != nil {
			t.Fatalf("re-parsing the rendered Err(): %v", err)
		}
	})
}

// FuzzTransport: whatever the server answers, the transport never panics,
// never makes more than MaxAttempts attempts, never waits longer than
// MaxWait in total, keeps one Idempotency-Key, and hands the last body over
// whole.
func FuzzTransport(f *testing.F) {
	addParseSeeds(f)
	f.Fuzz(func(t *testing.T, status int, ct, retryAfter, shouldRetry, body string) {
		if status < 100 || status > 999 {
			status = 500
		}
		const maxAttempts, maxWait = 4, 10 * time.Second
		var keys []string
		base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			keys = append(keys, r.Header.Get("Idempotency-Key"))
			b, _ := io.ReadAll(r.Body)
			if string(b) != "payload" {
				t.Fatalf("attempt %d: got body %q", len(keys), b)
			}
			h := http.Header{}
			for k, v := range map[string]string{"Content-Type": ct, "Retry-After": retryAfter, "X-Should-Retry": shouldRetry} {
				if v != "" {
					h.Set(k, v)
				}
			}
			return stubResponse(r, status, h, body), nil
		})
		var total time.Duration
		tr, err := client.NewTransport(client.TransportConfig{
			Base: base, MaxAttempts: maxAttempts, MaxWait: maxWait,
			Sleep: func(ctx context.Context, d time.Duration) error {
				if d < 0 {
					t.Fatalf("asked to wait %v", d)
				}
				total += d
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, "http://api.test/v1/generations", strings.NewReader("payload"))
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) < 1 || len(keys) > maxAttempts {
			t.Fatalf("got %d attempts", len(keys))
		}
		for _, k := range keys {
			if k == "" || k != keys[0] {
				t.Fatalf("got keys %q, want one key on every attempt", keys)
			}
		}
		if total > maxWait {
			t.Fatalf("waited %v in total, want at most %v", total, maxWait)
		}
		got, err := io.ReadAll(res.Body)
		if err != nil || string(got) != body {
			t.Fatalf("got last body %q (%v), want %q", got, err, body)
		}
		res.Body.Close()
	})
}
