package client_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/clipia/apiguard/client"
)

const benchEnvelope = `{"error":{"type":"invalid_request_error","code":"model_input_invalid","message":"duration must be at most 10 for clipia-fast","param":"duration"}}`

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}, "X-Request-Id": {"req_1"}, "X-Should-Retry": {"false"}}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res := &http.Response{StatusCode: 422, Header: h, Body: io.NopCloser(strings.NewReader(benchEnvelope))}
			if _, err := client.Parse(res); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkTransport measures what the transport adds to a request that is
// not retried, against the base transport alone (both on a stub base).
func BenchmarkTransport(b *testing.B) {
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Body != nil {
			_, _ = io.Copy(io.Discard, r.Body)
			_ = r.Body.Close()
		}
		return stubResponse(r, http.StatusCreated, nil, `{"id":"gen_1"}`), nil
	})
	tr, err := client.NewTransport(client.TransportConfig{Base: base})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		rt     http.RoundTripper
		method string
	}{
		{"base/GET", base, http.MethodGet},
		{"transport/GET", tr, http.MethodGet},
		{"base/POST", base, http.MethodPost},
		{"transport/POST", tr, http.MethodPost},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					var body io.Reader
					if bc.method == http.MethodPost {
						body = strings.NewReader(`{"model":"clipia-fast","prompt":"a cat"}`)
					}
					req, _ := http.NewRequest(bc.method, "http://api.test/v1/generations", body)
					res, err := bc.rt.RoundTrip(req)
					if err != nil {
						b.Fatal(err)
					}
					res.Body.Close()
				}
			})
		})
	}
}
