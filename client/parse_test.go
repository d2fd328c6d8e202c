package client_test

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/clipia/apiguard/client"
	"github.com/clipia/apiguard/errorsx"
)

func do(t *testing.T, method, url string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// TestParseEveryRowThroughTheRenderer renders every row with the real
// renderer over HTTP, parses it back, and compares the catalogue value.
func TestParseEveryRowThroughTheRenderer(t *testing.T) {
	variants := []struct {
		name    string
		message string
		param   string
		wait    time.Duration
	}{
		{name: "defaults"},
		{name: "message param wait", message: `duration must be at most 60 <"s"> & ü`, param: "input.duration", wait: 1500 * time.Millisecond},
	}
	a := newAPI(t, errorsx.HandlerConfig{ProblemJSON: true})
	for _, row := range errorsx.Rows() {
		for _, v := range variants {
			for _, accept := range []string{"application/json", "application/problem+json"} {
				t.Run(string(row.Code)+"/"+v.name+"/"+accept, func(t *testing.T) {
					sent := errorsx.New(row.Code).WithMessage(v.message).WithParam(v.param).WithRetryAfter(v.wait)
					q := url.Values{}
					if v.message != "" {
						q.Set("message", v.message)
					}
					if v.param != "" {
						q.Set("param", v.param)
					}
					if v.wait > 0 {
						q.Set("wait", v.wait.String())
					}
					res := do(t, http.MethodGet, a.url(row.Code, q.Encode()),
						http.Header{"Accept": {accept}, "X-Request-Id": {"req_parse_1"}})
					ae, err := client.Parse(res)
					if err != nil {
						t.Fatalf("Parse: %v", err)
					}
					got := ae.Err()
					if got.Status() != sent.Status() || got.Code() != sent.Code() || got.Type() != sent.Type() ||
						got.Message() != sent.Message() || got.Param() != sent.Param() || got.Retryable() != sent.Retryable() {
						t.Errorf("got %d %s %s %q param %q retryable %v,\nwant %d %s %s %q param %q retryable %v",
							got.Status(), got.Code(), got.Type(), got.Message(), got.Param(), got.Retryable(),
							sent.Status(), sent.Code(), sent.Type(), sent.Message(), sent.Param(), sent.Retryable())
					}
					// Retry-After travels in whole seconds, rounded up, and only
					// on the retryable rows (always on 429 and 503).
					var wantWait time.Duration
					switch {
					case row.Retryable && v.wait > 0:
						wantWait = time.Duration(errorsx.RetryAfterSeconds(v.wait)) * time.Second
					case row.Code == errorsx.CodeRateLimitExceeded || row.Code == errorsx.CodeServiceUnavailable:
						wantWait = time.Second
					}
					if got.RetryAfter() != wantWait || ae.RetryAfter != wantWait {
						t.Errorf("got RetryAfter %v (field %v), want %v", got.RetryAfter(), ae.RetryAfter, wantWait)
					}
					if !ae.Known() {
						t.Error("got Known() false for a catalogue row")
					}
					if ae.Status != row.Status || ae.Code != row.Code || ae.Type != row.Type {
						t.Errorf("got fields %d %s %s, want %d %s %s", ae.Status, ae.Code, ae.Type, row.Status, row.Code, row.Type)
					}
					if ae.RequestID != "req_parse_1" {
						t.Errorf("got RequestID %q, want req_parse_1", ae.RequestID)
					}
					if ae.ShouldRetry == nil || *ae.ShouldRetry != row.Retryable || ae.Retryable() != row.Retryable {
						t.Errorf("got ShouldRetry %v Retryable() %v, want %v", ae.ShouldRetry, ae.Retryable(), row.Retryable)
					}
					if wantProblem := accept == "application/problem+json"; ae.Problem != wantProblem {
						t.Errorf("got Problem %v, want %v", ae.Problem, wantProblem)
					}
					if !errors.Is(ae, sent) {
						t.Errorf("got errors.Is(parsed, errorsx.New(%s)) false", row.Code)
					}
					var x *errorsx.Error
					if !errors.As(error(ae), &x) || x.Code() != row.Code {
						t.Errorf("got errors.As to *errorsx.Error %v, want code %s", x, row.Code)
					}
					// The body is still there for the caller.
					again, _ := io.ReadAll(res.Body)
					if string(again) != string(ae.Raw) || len(again) == 0 {
						t.Errorf("got body %q after Parse, want the raw body %q again", again, ae.Raw)
					}
				})
			}
		}
	}
}

// TestParseHEADClassifiesEveryRow: a HEAD response has no body, yet its
// status and X-Should-Retry name the row, 409s included.
func TestParseHEADClassifiesEveryRow(t *testing.T) {
	a := newAPI(t, errorsx.HandlerConfig{})
	for _, row := range errorsx.Rows() {
		t.Run(string(row.Code), func(t *testing.T) {
			res := do(t, http.MethodHead, a.url(row.Code, ""), nil)
			ae, err := client.Parse(res)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if ae.Code != row.Code || ae.Type != row.Type || ae.Message != row.Message || !ae.Known() {
				t.Errorf("got %s %s %q known %v, want %s %s %q", ae.Code, ae.Type, ae.Message, ae.Known(), row.Code, row.Type, row.Message)
			}
		})
	}
}

func boolp(b bool) *bool { return &b }

func TestParseToleratesWhatNewerOrOtherServersSend(t *testing.T) {
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	cases := []struct {
		name        string
		status      int
		header      http.Header
		body        string
		wantCode    errorsx.Code
		wantType    string
		wantMessage string
		wantParam   string
		wantKnown   bool
		wantErrCode errorsx.Code // ae.Err().Code()
		wantRetry   bool
		wantProblem bool
		wantReqID   string
	}{
		{name: "unknown code on 409 is kept, classified as the non-retryable conflict",
			status: 409, body: `{"error":{"type":"conflict_error","code":"version_conflict","message":"The resource changed."}}`,
			wantCode: "version_conflict", wantType: "conflict_error", wantMessage: "The resource changed.",
			wantErrCode: errorsx.CodeIdempotencyKeyReuse},
		{name: "unknown code on 409 with X-Should-Retry true is request_in_progress",
			status: 409, header: http.Header{"X-Should-Retry": {"true"}},
			body:     `{"error":{"type":"idempotency_error","code":"still_running","message":"wait"}}`,
			wantCode: "still_running", wantType: "idempotency_error", wantMessage: "wait",
			wantErrCode: errorsx.CodeRequestInProgress, wantRetry: true},
		{name: "unknown code on 418 is invalid_request",
			status: 418, body: `{"error":{"type":"teapot_error","code":"teapot","message":"short and stout","param":"spout"}}`,
			wantCode: "teapot", wantType: "teapot_error", wantMessage: "short and stout", wantParam: "spout",
			wantErrCode: errorsx.CodeInvalidRequest},
		{name: "unknown code on 502 is service_unavailable and retryable",
			status: 502, body: `{"error":{"type":"api_error","code":"upstream_down","message":"m"}}`,
			wantCode: "upstream_down", wantType: "api_error", wantMessage: "m",
			wantErrCode: errorsx.CodeServiceUnavailable, wantRetry: true},
		{name: "known code on another status is classified by status",
			status: 400, body: `{"error":{"type":"invalid_request_error","code":"not_found","message":"m"}}`,
			wantCode: "not_found", wantType: "invalid_request_error", wantMessage: "m",
			wantErrCode: errorsx.CodeInvalidRequest},
		{name: "X-Should-Retry false wins over a retryable row",
			status: 503, header: http.Header{"X-Should-Retry": {"FALSE"}},
			body:     `{"error":{"type":"api_error","code":"service_unavailable","message":"m"}}`,
			wantCode: errorsx.CodeServiceUnavailable, wantType: "api_error", wantMessage: "m", wantKnown: true,
			wantErrCode: errorsx.CodeServiceUnavailable},
		{name: "OpenAI style null code and param: classified by status",
			status: 429, body: `{"error":{"message":"Slow down","type":"requests","param":null,"code":null}}`,
			wantCode: errorsx.CodeRateLimitExceeded, wantType: "requests", wantMessage: "Slow down", wantKnown: true,
			wantErrCode: errorsx.CodeRateLimitExceeded, wantRetry: true},
		{name: "members of the wrong JSON type are ignored",
			status: 404, body: `{"error":{"type":7,"code":"not_found","message":["x"],"param":{"a":1}},"extra":true}`,
			wantCode: errorsx.CodeNotFound, wantType: "invalid_request_error", wantMessage: "The requested resource was not found.",
			wantKnown: true, wantErrCode: errorsx.CodeNotFound},
		{name: "problem+json with the code extension",
			status: 422, header: http.Header{"Content-Type": {"application/problem+json; charset=utf-8"}},
			body:     `{"type":"https://example.com/probs/x","title":"Model input invalid","status":422,"detail":"too long","code":"model_input_invalid","param":"duration"}`,
			wantCode: errorsx.CodeModelInputInvalid, wantType: "invalid_request_error", wantMessage: "too long", wantParam: "duration",
			wantKnown: true, wantErrCode: errorsx.CodeModelInputInvalid, wantProblem: true},
		{name: "problem+json without code: from the type URI, title as message",
			status: 404, header: http.Header{"Content-Type": {"application/problem+json"}},
			body:     `{"type":"urn:apiguard:error:not_found","title":"Not found","status":404}`,
			wantCode: errorsx.CodeNotFound, wantType: "invalid_request_error", wantMessage: "Not found",
			wantKnown: true, wantErrCode: errorsx.CodeNotFound, wantProblem: true},
		{name: "problem document sent as application/json",
			status: 403, header: http.Header{"Content-Type": {"application/json"}},
			body:     `{"type":"about:blank","title":"Forbidden","status":403,"detail":"no"}`,
			wantCode: errorsx.CodeInsufficientScope, wantType: "permission_error", wantMessage: "no",
			wantKnown: true, wantErrCode: errorsx.CodeInsufficientScope, wantProblem: true},
		{name: "problem with an unknown code",
			status: 500, header: http.Header{"Content-Type": {"application/problem+json"}},
			body:     `{"type":"about:blank","title":"Oops","status":500,"code":"db_on_fire"}`,
			wantCode: "db_on_fire", wantType: "api_error", wantMessage: "Oops",
			wantErrCode: errorsx.CodeInternal, wantRetry: true, wantProblem: true},
		{name: "Request-Id when there is no X-Request-Id; Retry-After as an HTTP date",
			status: 429, header: http.Header{"Request-Id": {"req_stripe"}, "Retry-After": {future}},
			body:     `{"error":{"type":"rate_limit_error","code":"rate_limit_exceeded","message":"m"}}`,
			wantCode: errorsx.CodeRateLimitExceeded, wantType: "rate_limit_error", wantMessage: "m", wantKnown: true,
			wantErrCode: errorsx.CodeRateLimitExceeded, wantRetry: true, wantReqID: "req_stripe"},
		{name: "whitespace around the body",
			status: 401, body: "\n  {\"error\":{\"type\":\"authentication_error\",\"code\":\"invalid_api_key\",\"message\":\"m\"}}  \n",
			wantCode: errorsx.CodeInvalidAPIKey, wantType: "authentication_error", wantMessage: "m", wantKnown: true,
			wantErrCode: errorsx.CodeInvalidAPIKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ae, err := client.Parse(stubResponse(nil, tc.status, tc.header, tc.body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if ae.Code != tc.wantCode || ae.Type != tc.wantType || ae.Message != tc.wantMessage || ae.Param != tc.wantParam {
				t.Errorf("got code %q type %q message %q param %q,\nwant code %q type %q message %q param %q",
					ae.Code, ae.Type, ae.Message, ae.Param, tc.wantCode, tc.wantType, tc.wantMessage, tc.wantParam)
			}
			if ae.Known() != tc.wantKnown {
				t.Errorf("got Known() %v, want %v", ae.Known(), tc.wantKnown)
			}
			x := ae.Err()
			if x.Code() != tc.wantErrCode {
				t.Errorf("got Err().Code() %s, want %s", x.Code(), tc.wantErrCode)
			}
			if ae.Retryable() != tc.wantRetry {
				t.Errorf("got Retryable() %v, want %v", ae.Retryable(), tc.wantRetry)
			}
			if ae.Problem != tc.wantProblem {
				t.Errorf("got Problem %v, want %v", ae.Problem, tc.wantProblem)
			}
			if ae.RequestID != tc.wantReqID {
				t.Errorf("got RequestID %q, want %q", ae.RequestID, tc.wantReqID)
			}
			var unknown *client.UnknownCodeError
			if gotUnknown := errors.As(x, &unknown); gotUnknown == tc.wantKnown {
				t.Errorf("got UnknownCodeError cause %v, want %v", gotUnknown, !tc.wantKnown)
			}
			if x.Message() != ae.Message || x.Param() != ae.Param {
				t.Errorf("got Err() message %q param %q, want the response's %q %q", x.Message(), x.Param(), ae.Message, ae.Param)
			}
		})
	}
}

func TestParseRetryAfterHTTPDate(t *testing.T) {
	at := time.Now().Add(90 * time.Second).UTC()
	ae, err := client.Parse(stubResponse(nil, 503, http.Header{"Retry-After": {at.Format(http.TimeFormat)}},
		`{"error":{"type":"api_error","code":"service_unavailable","message":"m"}}`))
	if err != nil {
		t.Fatal(err)
	}
	// The date has whole seconds and the clock moved on a little.
	if ae.RetryAfter < 85*time.Second || ae.RetryAfter > 90*time.Second {
		t.Errorf("got RetryAfter %v, want about 90s", ae.RetryAfter)
	}
}

// TestParseSaysWhatArrived: bodies that are not an error document give an
// *UnexpectedResponseError naming the status, the Content-Type and the
// start of the body.
func TestParseSaysWhatArrived(t *testing.T) {
	long := "<html>" + strings.Repeat("x", 5000) + "</html>"
	cases := []struct {
		name       string
		status     int
		ct         string
		body       string
		wantReason string
		wantIn     []string
		wantIs     *errorsx.Error // classification by status, nil when none
	}{
		{"proxy HTML page", 502, "text/html", "<html><body>Bad gateway</body></html>", "HTML, not JSON",
			[]string{"502", `"text/html"`, `"<html><body>Bad gateway</body></html>"`}, errorsx.ServiceUnavailable()},
		{"long HTML is cut", 503, "text/html; charset=utf-8", long, "HTML, not JSON",
			[]string{"503", `"<html>xxxx`, "… (5013+ bytes)"}, errorsx.ServiceUnavailable()},
		{"empty body", 500, "", "", "empty body", []string{"500", "body empty"}, errorsx.Internal()},
		{"plain text", 429, "text/plain", "slow down", "not JSON", []string{"429", `"slow down"`}, errorsx.RateLimitExceeded()},
		{"JSON array", 400, "application/json", `[1,2]`, "JSON that is not an object", []string{`"[1,2]"`}, errorsx.InvalidRequest()},
		{"JSON string", 400, "application/json", `"oops"`, "JSON that is not an object", nil, errorsx.InvalidRequest()},
		{"error is a string", 404, "application/json", `{"error":"not found"}`, `"error" member is not an object`, nil, errorsx.NotFound()},
		{"error is null", 404, "application/json", `{"error":null}`, `"error" member is not an object`, nil, errorsx.NotFound()},
		{"other JSON object", 400, "application/json", `{"message":"bad"}`, `JSON without an "error" member`, []string{`{\"message\":\"bad\"}`}, errorsx.InvalidRequest()},
		{"empty error object", 400, "application/json", `{"error":{}}`, `"error" member has no type, code or message`, nil, errorsx.InvalidRequest()},
		{"truncated JSON", 500, "application/json", `{"error":{"type":"api_er`, "not valid JSON", nil, errorsx.Internal()},
		{"trailing garbage", 500, "application/json", `{"error":{"code":"internal_error"}} x`, "not valid JSON", nil, errorsx.Internal()},
		{"empty problem", 400, "application/problem+json", `{}`, "problem document has no code, type, title or detail", nil, errorsx.InvalidRequest()},
		{"success status", 200, "application/json", `{"id":"gen_1"}`, "status 200 is not an error status", []string{"200"}, nil},
		{"redirect status", 302, "", "", "status 302 is not an error status", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"X-Request-Id": {"req_x"}}
			if tc.ct != "" {
				h.Set("Content-Type", tc.ct)
			}
			ae, err := client.Parse(stubResponse(nil, tc.status, h, tc.body))
			if ae != nil {
				t.Fatalf("got an APIError %v, want none", ae)
			}
			var ue *client.UnexpectedResponseError
			if !errors.As(err, &ue) {
				t.Fatalf("got %T %v, want *client.UnexpectedResponseError", err, err)
			}
			if ue.Reason != tc.wantReason || ue.Status != tc.status || ue.ContentType != tc.ct || ue.RequestID != "req_x" {
				t.Errorf("got reason %q status %d content type %q request id %q, want %q %d %q req_x",
					ue.Reason, ue.Status, ue.ContentType, ue.RequestID, tc.wantReason, tc.status, tc.ct)
			}
			msg := err.Error()
			for _, s := range append(tc.wantIn, tc.wantReason) {
				if !strings.Contains(msg, s) {
					t.Errorf("got message %q, want it to contain %q", msg, s)
				}
			}
			if len(msg) > 400 {
				t.Errorf("got a %d-byte message, want the body cut short", len(msg))
			}
			if tc.wantIs == nil {
				if ue.Err() != nil {
					t.Errorf("got classification %v for a non-error status, want nil", ue.Err())
				}
			} else if !errors.Is(err, tc.wantIs) {
				t.Errorf("got errors.Is(err, %s) false, want the status classification", tc.wantIs.Code())
			}
		})
	}
}

func TestParseReadError(t *testing.T) {
	boom := errors.New("connection reset")
	res := stubResponse(nil, 500, nil, "")
	res.Body = io.NopCloser(io.MultiReader(strings.NewReader(`{"error":`), iotest.ErrReader(boom)))
	ae, err := client.Parse(res)
	if ae != nil || !errors.Is(err, boom) {
		t.Fatalf("got %v, %v; want the read error", ae, err)
	}
	if !strings.Contains(err.Error(), "reading the body failed") || !strings.Contains(err.Error(), `"{\"error\":"`) {
		t.Errorf("got %q, want the reason and what was read", err)
	}
}

func TestParseKeepsAtMostMaxErrorBody(t *testing.T) {
	body := `{"error":{"type":"api_error","code":"internal_error","message":"` + strings.Repeat("m", client.MaxErrorBody) + `"}}`
	ae, err := client.Parse(stubResponse(nil, 500, nil, body))
	var ue *client.UnexpectedResponseError
	if ae != nil || !errors.As(err, &ue) {
		t.Fatalf("got %v, %v; want an UnexpectedResponseError for a body over the limit", ae, err)
	}
	if len(ue.Body) != client.MaxErrorBody {
		t.Errorf("got %d bytes kept, want %d", len(ue.Body), client.MaxErrorBody)
	}
}

func TestParseNil(t *testing.T) {
	if ae, err := client.Parse(nil); ae != nil || err == nil {
		t.Errorf("got %v, %v; want an error", ae, err)
	}
	if err := client.CheckResponse(nil); err == nil {
		t.Error("got nil from CheckResponse(nil), want an error")
	}
}

func TestCheckResponse(t *testing.T) {
	a := newAPI(t, errorsx.HandlerConfig{})
	ok := do(t, http.MethodPost, a.url(errorsx.CodeNotFound, "ok_after=0"), nil)
	if err := client.CheckResponse(ok); err != nil {
		t.Fatalf("got %v for a 201, want nil", err)
	}
	if b, _ := io.ReadAll(ok.Body); !strings.Contains(string(b), "gen_1") {
		t.Errorf("got body %q after CheckResponse of a success, want it untouched", b)
	}
	res := do(t, http.MethodGet, a.url(errorsx.CodeInsufficientCredits, ""), nil)
	err := client.CheckResponse(res)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Code != errorsx.CodeInsufficientCredits {
		t.Fatalf("got %v, want the insufficient_credits APIError", err)
	}
	if !errors.Is(err, errorsx.InsufficientCredits()) {
		t.Error("got errors.Is(err, errorsx.InsufficientCredits()) false")
	}
}

func TestAPIErrorError(t *testing.T) {
	cases := []struct {
		name string
		e    client.APIError
		want string
	}{
		{"bare", client.APIError{Status: 404, Code: "not_found", Message: "No such model."},
			"404 not_found: No such model."},
		{"param", client.APIError{Status: 400, Code: "invalid_request", Message: "prompt is required", Param: "prompt"},
			"400 invalid_request: prompt is required (param prompt)"},
		{"param and request id", client.APIError{Status: 422, Code: "model_input_invalid", Message: "m", Param: "duration", RequestID: "req_1"},
			"422 model_input_invalid: m (param duration, request id req_1)"},
		{"request id", client.APIError{Status: 500, Code: "internal_error", Message: "m", RequestID: "req_2"},
			"500 internal_error: m (request id req_2)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.e.Error(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		status      int
		shouldRetry *bool
		want        errorsx.Code
	}{
		{400, nil, errorsx.CodeInvalidRequest},
		{401, nil, errorsx.CodeInvalidAPIKey},
		{402, nil, errorsx.CodeInsufficientCredits},
		{403, nil, errorsx.CodeInsufficientScope},
		{404, nil, errorsx.CodeNotFound},
		{405, nil, errorsx.CodeInvalidRequest},
		{409, nil, errorsx.CodeIdempotencyKeyReuse},
		{409, boolp(false), errorsx.CodeIdempotencyKeyReuse},
		{409, boolp(true), errorsx.CodeRequestInProgress},
		{413, nil, errorsx.CodeInvalidRequest},
		{422, nil, errorsx.CodeModelInputInvalid},
		{429, nil, errorsx.CodeRateLimitExceeded},
		{500, nil, errorsx.CodeInternal},
		{501, nil, errorsx.CodeInternal},
		{502, nil, errorsx.CodeServiceUnavailable},
		{503, nil, errorsx.CodeServiceUnavailable},
		{504, nil, errorsx.CodeServiceUnavailable},
		{599, nil, errorsx.CodeInternal},
	}
	for _, tc := range cases {
		if got := client.Classify(tc.status, tc.shouldRetry).Code(); got != tc.want {
			t.Errorf("Classify(%d, %v): got %s, want %s", tc.status, tc.shouldRetry, got, tc.want)
		}
	}
	// Every row of the table classifies onto itself, except the one 409
	// that needs X-Should-Retry to be told apart.
	for _, row := range errorsx.Rows() {
		got := client.Classify(row.Status, boolp(row.Retryable)).Code()
		if got != row.Code {
			t.Errorf("Classify(%d, %v): got %s, want its row %s", row.Status, row.Retryable, got, row.Code)
		}
	}
}
