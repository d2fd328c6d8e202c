// Package client is the Go client's half of apiguard's error contract: it
// reads error responses back into the catalogue, and retries exactly the
// requests the catalogue calls retryable.
//
// # Reading errors
//
// [Parse] turns a non-2xx *http.Response into an [*APIError]: status, type,
// code, message and param from the JSON envelope
//
//	{"error":{"type":"invalid_request_error","code":"not_found","message":"…","param":"model"}}
//
// (or from an RFC 9457 application/problem+json document with a "code"
// extension member), plus Retry-After, X-Should-Retry and the request id from
// the headers. Codes are kept as the server sent them, so a newer server's
// code that this version does not know is not lost; [APIError.Err] maps the
// response onto the catalogue (by code, else by status), so callers can
// branch with errors.Is(err, errorsx.NotFound()) or read
// [errorsx.Error.Retryable]. A body that is not an error document gives an
// [*UnexpectedResponseError] that says what arrived: status, Content-Type
// and the start of the body. [CheckResponse] is the one-line form for
// callers: nil for a success, else the error to return.
//
// # Retrying
//
// [Transport] is an http.RoundTripper that retries the retryable rows of the
// table, and only those: 429 rate_limit_exceeded and 409 request_in_progress
// after Retry-After, 500 internal_error and 503 service_unavailable after
// Retry-After when the server sent one, else with exponential backoff and
// full jitter. X-Should-Retry, when present, overrides the status. Unsafe
// requests get an Idempotency-Key (a random UUID) when they have none, the
// same on every attempt, so the server runs them once; the body is replayed
// from GetBody or from a bounded buffer. A retry never waits past the
// request context's deadline, past the total wait budget or beyond the
// attempt limit: then the last response is returned as it came.
//
//	t, err := client.NewTransport(client.TransportConfig{})
//	if err != nil { … }
//	hc := &http.Client{Transport: t}
//	res, err := hc.Do(req)
//	if err != nil { … }
//	defer res.Body.Close()
//	if err := client.CheckResponse(res); err != nil {
//		if errors.Is(err, errorsx.InsufficientCredits()) { … }
//		return err
//	}
package client
