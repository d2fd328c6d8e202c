package load

import (
	"net/http"
	"strings"
	"testing"
)

// TestCheckResponse proves the contract checker rejects what it must: a
// checker that accepted everything would make the load tests vacuous.
func TestCheckResponse(t *testing.T) {
	hdr := func(kv ...string) http.Header {
		h := http.Header{"X-Request-Id": {"req_1"}, "Content-Type": {"application/json; charset=utf-8"}}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				h.Del(kv[i])
			} else {
				h.Set(kv[i], kv[i+1])
			}
		}
		return h
	}
	const notFound = `{"error":{"type":"invalid_request_error","code":"not_found","message":"Nothing here."}}`
	for _, tc := range []struct {
		name    string
		method  string
		status  int
		h       http.Header
		body    string
		wantErr string // "" means valid
	}{
		{"2xx with request id", "GET", 200, hdr(), `{"data":[]}`, ""},
		{"2xx without request id", "GET", 200, hdr("X-Request-Id", ""), `{}`, "X-Request-Id"},
		{"404 row", "GET", 404, hdr("X-Should-Retry", "false"), notFound, ""},
		{"404 with param", "POST", 404, hdr("X-Should-Retry", "false"), `{"error":{"type":"invalid_request_error","code":"not_found","message":"No such model.","param":"model"}}`, ""},
		{"3xx is not a contract answer", "GET", 302, hdr(), ``, "neither 2xx"},
		{"status not in the table", "GET", 418, hdr("X-Should-Retry", "false"), `{"error":{"type":"invalid_request_error","code":"teapot","message":"x"}}`, "not one of the eleven"},
		{"code of another status", "GET", 400, hdr("X-Should-Retry", "false"), notFound, "not one of the eleven"},
		{"wrong type", "GET", 404, hdr("X-Should-Retry", "false"), `{"error":{"type":"api_error","code":"not_found","message":"x"}}`, "type"},
		{"extra member inside error", "GET", 404, hdr("X-Should-Retry", "false"), `{"error":{"type":"invalid_request_error","code":"not_found","message":"x","detail":"y"}}`, "unexpected member"},
		{"extra member beside error", "GET", 404, hdr("X-Should-Retry", "false"), `{"error":{"type":"invalid_request_error","code":"not_found","message":"x"},"id":1}`, "exactly"},
		{"empty message", "GET", 404, hdr("X-Should-Retry", "false"), `{"error":{"type":"invalid_request_error","code":"not_found","message":""}}`, "non-empty"},
		{"empty param", "GET", 404, hdr("X-Should-Retry", "false"), `{"error":{"type":"invalid_request_error","code":"not_found","message":"x","param":""}}`, "param"},
		{"trailing data", "GET", 404, hdr("X-Should-Retry", "false"), notFound + `{}`, "trailing"},
		{"not JSON", "GET", 404, hdr("X-Should-Retry", "false"), `Not Found`, "not a JSON object"},
		{"problem+json content type", "GET", 404, hdr("X-Should-Retry", "false", "Content-Type", "application/problem+json"), notFound, "Content-Type"},
		{"missing X-Should-Retry", "GET", 404, hdr(), notFound, "X-Should-Retry"},
		{"retryable row says false", "GET", 500, hdr("X-Should-Retry", "false"), `{"error":{"type":"api_error","code":"internal_error","message":"x"}}`, "X-Should-Retry"},
		{"429 without Retry-After", "GET", 429, hdr("X-Should-Retry", "true"), `{"error":{"type":"rate_limit_error","code":"rate_limit_exceeded","message":"x"}}`, "Retry-After"},
		{"429 with Retry-After", "GET", 429, hdr("X-Should-Retry", "true", "Retry-After", "2"), `{"error":{"type":"rate_limit_error","code":"rate_limit_exceeded","message":"x"}}`, ""},
		{"Retry-After zero", "GET", 503, hdr("X-Should-Retry", "true", "Retry-After", "0"), `{"error":{"type":"api_error","code":"service_unavailable","message":"x"}}`, "Retry-After"},
		{"401 without challenge", "GET", 401, hdr("X-Should-Retry", "false"), `{"error":{"type":"authentication_error","code":"invalid_api_key","message":"x"}}`, "WWW-Authenticate"},
		{"500 leaking an address", "POST", 500, hdr("X-Should-Retry", "true"), `{"error":{"type":"api_error","code":"internal_error","message":"dial tcp 10.20.30.40:5432"}}`, "leaks"},
		{"HEAD error without body", "HEAD", 404, hdr("X-Should-Retry", "false"), ``, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckResponse(tc.method, tc.status, tc.h, []byte(tc.body))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got error %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}
