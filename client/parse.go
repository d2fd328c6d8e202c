package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/clipia/apiguard/errorsx"
)

// MaxErrorBody is the number of bytes of an error body that [Parse] reads
// and keeps. An envelope is a few hundred bytes; a longer body is not one.
const MaxErrorBody = 64 << 10

// snippetLen is how much of an unexpected body an error message quotes.
const snippetLen = 200

// APIError is an error response as the client read it. The fields hold what
// the server sent, so that a code this version of the catalogue does not
// know survives; [APIError.Err] maps it onto the catalogue.
//
// Parse fills every field it can: Type, Code and Message are never empty
// (when the body lacks one, the value of the row the response is classified
// onto is used). An APIError is a plain value; it is safe to read from many
// goroutines once Parse has returned it.
type APIError struct {
	// Status is the HTTP status of the response.
	Status int
	// Type is the error type, e.g. "invalid_request_error".
	Type string
	// Code is the machine-readable reason, as sent: one of the catalogue's
	// codes, or a code from a newer server.
	Code errorsx.Code
	// Message is the human-readable message (problem+json: detail, else
	// title).
	Message string
	// Param names the request field at fault, or is empty.
	Param string
	// RetryAfter is the wait of the Retry-After header (delay-seconds or an
	// HTTP date), or 0 when there is none or it cannot be read.
	RetryAfter time.Duration
	// RequestID is the X-Request-Id header, else Request-Id; quote it when
	// asking the API's support about a failure.
	RequestID string
	// ShouldRetry is the X-Should-Retry header when the server sent one
	// ("true" or "false"), else nil.
	ShouldRetry *bool
	// Problem reports that the body was an RFC 9457 problem document rather
	// than the envelope.
	Problem bool
	// Raw is the body as received, at most [MaxErrorBody] bytes.
	Raw []byte
}

// Known reports whether Code is a catalogue code whose row has this Status,
// that is, whether [APIError.Err] returns the error the server meant rather
// than a classification by status.
func (e *APIError) Known() bool {
	r, ok := errorsx.Lookup(e.Code)
	return ok && r.Status == e.Status
}

// Err returns the catalogue error this response stands for, carrying the
// response's message, param and Retry-After: the row of Code when
// [APIError.Known], else the row its status classifies onto (see
// [Classify]), with the unknown code recorded in the cause. It returns a new
// value on every call.
func (e *APIError) Err() *errorsx.Error {
	var x *errorsx.Error
	if e.Known() {
		x = errorsx.New(e.Code)
	} else {
		x = Classify(e.Status, e.ShouldRetry).WithCause(&UnknownCodeError{Status: e.Status, Code: e.Code})
	}
	return x.WithMessage(e.Message).WithParam(e.Param).WithRetryAfter(e.RetryAfter)
}

// Retryable reports whether the same request may be sent again: the
// X-Should-Retry header when the server sent one, else the catalogue's
// answer for [APIError.Err].
func (e *APIError) Retryable() bool {
	if e.ShouldRetry != nil {
		return *e.ShouldRetry
	}
	return e.Err().Retryable()
}

// Error describes the response for logs, e.g.
// "404 not_found: model clipia-x does not exist (param model, request id 7f3…)".
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(e.Status))
	b.WriteByte(' ')
	b.WriteString(string(e.Code))
	b.WriteString(": ")
	b.WriteString(e.Message)
	sep := " ("
	if e.Param != "" {
		b.WriteString(sep + "param " + e.Param)
		sep = ", "
	}
	if e.RequestID != "" {
		b.WriteString(sep + "request id " + e.RequestID)
		sep = ", "
	}
	if sep == ", " {
		b.WriteByte(')')
	}
	return b.String()
}

// Unwrap returns [APIError.Err], so errors.Is(err, errorsx.NotFound()) and
// errors.As(err, &x) with x an *errorsx.Error work on an APIError.
func (e *APIError) Unwrap() error { return e.Err() }

// UnknownCodeError is the cause of the catalogue error that [APIError.Err]
// returns for a code the catalogue does not have with that status.
type UnknownCodeError struct {
	Status int
	Code   errorsx.Code
}

func (e *UnknownCodeError) Error() string {
	return "client: code " + strconv.Quote(string(e.Code)) + " is not in the catalogue with status " +
		strconv.Itoa(e.Status) + "; classified by status"
}

// UnexpectedResponseError is what [Parse] returns when a response is not an
// error document: a proxy's HTML page, an empty body, plain text, JSON of
// another shape, or a status that is not an error. It says what arrived.
type UnexpectedResponseError struct {
	// Status is the HTTP status of the response.
	Status int
	// ContentType is the Content-Type header as sent.
	ContentType string
	// RequestID is the X-Request-Id (else Request-Id) header, if any.
	RequestID string
	// Reason says why the body is not an error document.
	Reason string
	// Body is the start of the body, at most [MaxErrorBody] bytes.
	Body []byte
	// ReadErr is the error that cut reading the body short, if any.
	ReadErr error
}

// Error says what arrived, e.g. `client: 502 response is not an error
// document (HTML, not JSON): Content-Type "text/html", body "<html>…"`.
func (e *UnexpectedResponseError) Error() string {
	var b strings.Builder
	b.WriteString("client: ")
	b.WriteString(strconv.Itoa(e.Status))
	b.WriteString(" response is not an error document (")
	b.WriteString(e.Reason)
	b.WriteString("): Content-Type ")
	b.WriteString(quoteClipped(e.ContentType, headerSnippetLen))
	b.WriteString(", body ")
	b.WriteString(snippet(e.Body))
	if e.RequestID != "" {
		b.WriteString(", request id ")
		b.WriteString(quoteClipped(e.RequestID, headerSnippetLen))
	}
	if e.ReadErr != nil {
		b.WriteString(": ")
		b.WriteString(e.ReadErr.Error())
	}
	return b.String()
}

// Err returns the catalogue error the status classifies onto (see
// [Classify]), or nil when the status is not an error status.
func (e *UnexpectedResponseError) Err() *errorsx.Error {
	if e.Status < 400 {
		return nil
	}
	return Classify(e.Status, nil)
}

// Unwrap returns the classification by status and the read error, so that
// errors.Is(err, errorsx.ServiceUnavailable()) holds for a load balancer's
// 503 page too.
func (e *UnexpectedResponseError) Unwrap() []error {
	var out []error
	if x := e.Err(); x != nil {
		out = append(out, x)
	}
	if e.ReadErr != nil {
		out = append(out, e.ReadErr)
	}
	return out
}

// headerSnippetLen is how much of a header value an error message quotes.
const headerSnippetLen = 100

func snippet(b []byte) string {
	if len(b) == 0 {
		return "empty"
	}
	q := quoteClipped(string(b), snippetLen)
	if len(b) > snippetLen {
		q += " (" + strconv.Itoa(len(b)) + "+ bytes)"
	}
	return q
}

// quoteClipped quotes at most n bytes of s, marking a cut with "…".
func quoteClipped(s string, n int) string {
	if len(s) <= n {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:n]) + "…"
}

// Classify returns the catalogue error a status stands for when the body
// does not say which: each status of the table maps to its row (409 to
// request_in_progress when shouldRetry is true, else to the non-retryable
// idempotency_key_reuse); 502 and 504, which gateways send, to
// service_unavailable; any other 5xx to internal_error; any other 4xx to
// invalid_request. Statuses below 400 also give invalid_request; callers
// check the status first.
func Classify(status int, shouldRetry *bool) *errorsx.Error {
	switch status {
	case http.StatusBadRequest:
		return errorsx.InvalidRequest()
	case http.StatusUnauthorized:
		return errorsx.InvalidAPIKey()
	case http.StatusPaymentRequired:
		return errorsx.InsufficientCredits()
	case http.StatusForbidden:
		return errorsx.InsufficientScope()
	case http.StatusNotFound:
		return errorsx.NotFound()
	case http.StatusConflict:
		if shouldRetry != nil && *shouldRetry {
			return errorsx.RequestInProgress()
		}
		return errorsx.IdempotencyKeyReuse()
	case http.StatusUnprocessableEntity:
		return errorsx.ModelInputInvalid()
	case http.StatusTooManyRequests:
		return errorsx.RateLimitExceeded()
	case http.StatusInternalServerError:
		return errorsx.Internal()
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return errorsx.ServiceUnavailable()
	}
	if status >= 500 {
		return errorsx.Internal()
	}
	return errorsx.InvalidRequest()
}

// CheckResponse returns nil when res is not an error (status below 400),
// without touching the body. Otherwise it returns what [Parse] gives: the
// *APIError, or the *UnexpectedResponseError saying what arrived.
func CheckResponse(res *http.Response) error {
	if res == nil {
		return errors.New("client: nil *http.Response")
	}
	if res.StatusCode < 400 {
		return nil
	}
	ae, err := Parse(res)
	if err != nil {
		return err
	}
	return ae
}

// Parse reads the error response res. It reads at most [MaxErrorBody] bytes
// of the body, closes it, and replaces res.Body with a reader over the bytes
// it read, so the caller's own Close (and a second read) still work.
//
// The body may be the JSON envelope {"error":{"type","code","message","param"}}
// or, with Content-Type application/problem+json (or a body of that shape),
// an RFC 9457 problem document whose "code" member (else the last segment
// of its "type" URI) gives the code and whose detail (else title) gives the
// message. Unknown codes are kept; members of the wrong JSON type are
// ignored. The response of a HEAD request, which has no body, is classified
// by its status and X-Should-Retry.
//
// Anything else, and a status below 400, gives an
// [*UnexpectedResponseError] and a nil *APIError. Exactly one of the two
// results is non-nil.
func Parse(res *http.Response) (*APIError, error) {
	if res == nil {
		return nil, errors.New("client: nil *http.Response")
	}
	body, readErr := readAndReplace(res)
	return parse(res.StatusCode, res.Header, body, readErr, res.Request != nil && res.Request.Method == http.MethodHead, time.Now())
}

// readAndReplace reads up to MaxErrorBody bytes, closes the body and puts
// the bytes back.
func readAndReplace(res *http.Response) ([]byte, error) {
	if res.Body == nil || res.Body == http.NoBody {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, MaxErrorBody))
	_ = res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(body))
	return body, err
}

func parse(status int, h http.Header, body []byte, readErr error, head bool, now time.Time) (*APIError, error) {
	ct := h.Get("Content-Type")
	unexpected := func(reason string) (*APIError, error) {
		return nil, &UnexpectedResponseError{
			Status: status, ContentType: ct, RequestID: requestID(h),
			Reason: reason, Body: body, ReadErr: readErr,
		}
	}
	if status < 400 || status > 999 {
		return unexpected("status " + strconv.Itoa(status) + " is not an error status")
	}
	if readErr != nil {
		return unexpected("reading the body failed")
	}
	ae := &APIError{
		Status:      status,
		RetryAfter:  parseRetryAfter(h.Get(errorsx.HeaderRetryAfter), now),
		RequestID:   requestID(h),
		ShouldRetry: parseShouldRetry(h),
		Raw:         body,
	}
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0 && head:
		// A HEAD response has headers only: classify by status.
	case len(trimmed) == 0:
		return unexpected("empty body")
	case trimmed[0] != '{':
		return unexpected(describeNonObject(ct, trimmed))
	default:
		var w wireBody
		if err := unmarshalTolerant(trimmed, &w); err != nil {
			return unexpected("not valid JSON")
		}
		if obj := bytes.TrimSpace(w.Error); len(obj) > 0 && obj[0] == '{' {
			var in wireEnvelope
			if err := unmarshalTolerant(obj, &in); err != nil {
				return unexpected("\"error\" member is not an object")
			}
			ae.Type, ae.Code, ae.Message, ae.Param = in.Type, errorsx.Code(in.Code), in.Message, in.Param
			if ae.Type == "" && ae.Code == "" && ae.Message == "" {
				return unexpected("\"error\" member has no type, code or message")
			}
			break
		}
		if !isProblemType(ct) && !w.looksLikeProblem() {
			if len(w.Error) > 0 {
				return unexpected("\"error\" member is not an object")
			}
			return unexpected("JSON without an \"error\" member")
		}
		ae.Problem = true
		ae.Code = errorsx.Code(w.Code)
		if ae.Code == "" {
			ae.Code = codeFromProblemType(w.Type)
		}
		ae.Message = w.Detail
		if ae.Message == "" {
			ae.Message = w.Title
		}
		ae.Param = w.Param
		if ae.Code == "" && ae.Message == "" && w.Type == "" {
			return unexpected("problem document has no code, type, title or detail")
		}
	}
	// Fill what the body left out from the row the response maps onto.
	if ae.Code == "" || ae.Type == "" || ae.Message == "" {
		row := ae.Err().Row()
		if ae.Code == "" {
			ae.Code = row.Code
		}
		if ae.Type == "" {
			ae.Type = row.Type
		}
		if ae.Message == "" {
			ae.Message = row.Message
		}
	}
	return ae, nil
}

// wireBody holds the top-level members of an envelope or a problem
// document. It is decoded with [unmarshalTolerant], so a member of the wrong
// JSON type is left empty instead of failing the whole body.
type wireBody struct {
	Error  json.RawMessage `json:"error"`
	Type   string          `json:"type"`
	Title  string          `json:"title"`
	Status json.RawMessage `json:"status"`
	Detail string          `json:"detail"`
	Code   string          `json:"code"`
	Param  string          `json:"param"`
}

// looksLikeProblem reports a problem document sent without its media type:
// a numeric status and a title or detail, and no "error" member.
func (w *wireBody) looksLikeProblem() bool {
	if len(w.Error) > 0 || len(w.Status) == 0 {
		return false
	}
	if c := w.Status[0]; c != '-' && (c < '0' || c > '9') {
		return false
	}
	return w.Title != "" || w.Detail != ""
}

type wireEnvelope struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param"`
}

// unmarshalTolerant is json.Unmarshal that accepts members of the wrong
// type: encoding/json skips them and reports an *json.UnmarshalTypeError
// after decoding the rest, which is what a tolerant reader wants. Syntax
// errors, and a top-level value that is not an object, still fail.
func unmarshalTolerant(data []byte, v any) error {
	err := json.Unmarshal(data, v)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return nil
	}
	return err
}

func isProblemType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/problem+json"
}

// codeFromProblemType takes the code from a problem type URI such as
// "urn:apiguard:error:not_found" or "https://example.com/errors/not_found",
// when the last segment is a catalogue code.
func codeFromProblemType(t string) errorsx.Code {
	i := strings.LastIndexAny(t, ":/#")
	c := errorsx.Code(t[i+1:])
	if _, ok := errorsx.Lookup(c); ok {
		return c
	}
	return ""
}

func describeNonObject(ct string, body []byte) string {
	mt, _, _ := mime.ParseMediaType(ct)
	switch {
	case strings.Contains(mt, "html") || bytes.HasPrefix(body, []byte("<")):
		return "HTML, not JSON"
	case body[0] == '[' || body[0] == '"' || json.Valid(body):
		return "JSON that is not an object"
	}
	return "not JSON"
}

func requestID(h http.Header) string {
	if id := h.Get(errorsx.HeaderRequestID); id != "" {
		return id
	}
	return h.Get(errorsx.HeaderRequestIDStripe)
}

func parseShouldRetry(h http.Header) *bool {
	v := strings.TrimSpace(h.Get(errorsx.HeaderShouldRetry))
	switch {
	case strings.EqualFold(v, "true"):
		t := true
		return &t
	case strings.EqualFold(v, "false"):
		f := false
		return &f
	}
	return nil
}

// maxRetryAfter bounds a parsed Retry-After so that it never overflows a
// time.Duration; any wait this long is beyond every retry budget anyway.
const maxRetryAfter = 100 * 365 * 24 * time.Hour

// parseRetryAfter reads a Retry-After value: delay-seconds (RFC 9110; a
// fraction is tolerated) or an HTTP date, relative to now. Anything else,
// and a date in the past, gives 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if v[0] >= '0' && v[0] <= '9' {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || f <= 0 {
			return 0
		}
		if f >= maxRetryAfter.Seconds() {
			return maxRetryAfter
		}
		return time.Duration(math.Ceil(f * float64(time.Second)))
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}
