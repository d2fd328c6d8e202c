package errorsx_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/clipia/apiguard/errorsx"
)

// The table exists once as data: testdata/codes.json. The Go table must be
// identical, row for row, in order.
func TestCatalogueMatchesCodesJSON(t *testing.T) {
	raw, err := os.ReadFile("../testdata/codes.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var want []errorsx.Row
	if err := dec.Decode(&want); err != nil {
		t.Fatalf("decoding codes.json: %v", err)
	}
	got := errorsx.Rows()
	if len(got) != len(want) {
		t.Fatalf("got %d rows in Go, want %d as in codes.json", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: got %+v, want %+v (codes.json)", i, got[i], want[i])
		}
	}
}

// The contract's table, written out once more by hand, so a change to both
// codes.json and the Go table still has to be deliberate.
func TestCatalogueIsTheContractTable(t *testing.T) {
	want := []struct {
		status    int
		code      errorsx.Code
		typ       string
		retryable bool
	}{
		{400, errorsx.CodeInvalidRequest, "invalid_request_error", false},
		{401, errorsx.CodeInvalidAPIKey, "authentication_error", false},
		{402, errorsx.CodeInsufficientCredits, "invalid_request_error", false},
		{403, errorsx.CodeInsufficientScope, "permission_error", false},
		{404, errorsx.CodeNotFound, "invalid_request_error", false},
		{409, errorsx.CodeIdempotencyKeyReuse, "idempotency_error", false},
		{409, errorsx.CodeRequestInProgress, "idempotency_error", true},
		{422, errorsx.CodeModelInputInvalid, "invalid_request_error", false},
		{429, errorsx.CodeRateLimitExceeded, "rate_limit_error", true},
		{500, errorsx.CodeInternal, "api_error", true},
		{503, errorsx.CodeServiceUnavailable, "api_error", true},
	}
	rows := errorsx.Rows()
	if len(rows) != len(want) {
		t.Fatalf("got %d rows, want %d", len(rows), len(want))
	}
	for i, w := range want {
		r := rows[i]
		if r.Status != w.status || r.Code != w.code || r.Type != w.typ || r.Retryable != w.retryable {
			t.Errorf("row %d: got %d %s %s %v, want %d %s %s %v", i,
				r.Status, r.Code, r.Type, r.Retryable, w.status, w.code, w.typ, w.retryable)
		}
		if r.Title == "" || r.Message == "" {
			t.Errorf("row %s: empty title or message", r.Code)
		}
		if !strings.HasSuffix(r.Message, ".") || r.Message[0] < 'A' || r.Message[0] > 'Z' {
			t.Errorf("row %s: default message %q is not a sentence", r.Code, r.Message)
		}
	}
}

func TestRowsReturnsACopy(t *testing.T) {
	rows := errorsx.Rows()
	rows[0].Message = "changed"
	rows[0].Status = 999
	if got := errorsx.Rows()[0]; got.Message == "changed" || got.Status == 999 {
		t.Fatalf("got %+v after changing the returned slice, want the catalogue unchanged", got)
	}
}

// constructors lists the eleven constructors with the code each must give.
var constructors = []struct {
	name string
	new  func() *errorsx.Error
	code errorsx.Code
}{
	{"InvalidRequest", errorsx.InvalidRequest, errorsx.CodeInvalidRequest},
	{"InvalidAPIKey", errorsx.InvalidAPIKey, errorsx.CodeInvalidAPIKey},
	{"InsufficientCredits", errorsx.InsufficientCredits, errorsx.CodeInsufficientCredits},
	{"InsufficientScope", errorsx.InsufficientScope, errorsx.CodeInsufficientScope},
	{"NotFound", errorsx.NotFound, errorsx.CodeNotFound},
	{"IdempotencyKeyReuse", errorsx.IdempotencyKeyReuse, errorsx.CodeIdempotencyKeyReuse},
	{"RequestInProgress", errorsx.RequestInProgress, errorsx.CodeRequestInProgress},
	{"ModelInputInvalid", errorsx.ModelInputInvalid, errorsx.CodeModelInputInvalid},
	{"RateLimitExceeded", errorsx.RateLimitExceeded, errorsx.CodeRateLimitExceeded},
	{"Internal", errorsx.Internal, errorsx.CodeInternal},
	{"ServiceUnavailable", errorsx.ServiceUnavailable, errorsx.CodeServiceUnavailable},
}

func TestConstructors(t *testing.T) {
	if got, want := len(constructors), len(errorsx.Rows()); got != want {
		t.Fatalf("got %d constructors under test, want one per row (%d)", got, want)
	}
	for _, tc := range constructors {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.new()
			row := rowFor(t, string(tc.code))
			if e.Code() != tc.code || e.Status() != row.Status || e.Type() != row.Type ||
				e.Retryable() != row.Retryable || e.Message() != row.Message || e.Row() != row {
				t.Errorf("got %s %d %s %v %q, want %+v", e.Code(), e.Status(), e.Type(), e.Retryable(), e.Message(), row)
			}
			if e.Param() != "" || e.RetryAfter() != 0 || e.Unwrap() != nil {
				t.Errorf("got param %q retry %v cause %v, want none", e.Param(), e.RetryAfter(), e.Unwrap())
			}
			if n := errorsx.New(tc.code); n.Row() != row || n.Message() != row.Message {
				t.Errorf("New(%s): got %+v, want %+v", tc.code, n.Row(), row)
			}
			if !errors.Is(e.WithParam("x").WithCause(errors.New("boom")), tc.new()) {
				t.Errorf("errors.Is(%s with param and cause, %s()) = false, want true", tc.code, tc.name)
			}
		})
	}
}

func TestNewUnknownCodeIsInternal(t *testing.T) {
	e := errorsx.New("no_such_code")
	if got, want := e.Code(), errorsx.CodeInternal; got != want {
		t.Fatalf("got code %s, want %s", got, want)
	}
	if e.Unwrap() == nil || !strings.Contains(e.Unwrap().Error(), "no_such_code") {
		t.Errorf("got cause %v, want one naming the bad code", e.Unwrap())
	}
	if strings.Contains(e.Message(), "no_such_code") {
		t.Errorf("got message %q, the bad code must stay in the log", e.Message())
	}
}

func TestWithMethodsReturnCopies(t *testing.T) {
	base := errorsx.RateLimitExceeded()
	cause := errors.New("bucket empty")
	e := base.WithMessage("slow down").WithParam("model").WithRetryAfter(3 * time.Second).WithCause(cause)

	if base.Message() != rowFor(t, "rate_limit_exceeded").Message || base.Param() != "" ||
		base.RetryAfter() != 0 || base.Unwrap() != nil {
		t.Fatalf("base changed: message %q param %q retry %v cause %v", base.Message(), base.Param(), base.RetryAfter(), base.Unwrap())
	}
	if e.Message() != "slow down" || e.Param() != "model" || e.RetryAfter() != 3*time.Second || e.Unwrap() != cause {
		t.Fatalf("got message %q param %q retry %v cause %v", e.Message(), e.Param(), e.RetryAfter(), e.Unwrap())
	}
	if !errors.Is(e, cause) {
		t.Error("errors.Is(e, cause) = false, want true through Unwrap")
	}
	if got := e.WithMessage("").Message(); got != base.Message() {
		t.Errorf("WithMessage(\"\"): got %q, want the default %q", got, base.Message())
	}
	if got := e.WithRetryAfter(-time.Second).RetryAfter(); got != 0 {
		t.Errorf("WithRetryAfter(-1s): got %v, want 0", got)
	}
	// Error() is for logs: it carries the cause.
	if got := e.Error(); !strings.Contains(got, "bucket empty") || !strings.Contains(got, "rate_limit_exceeded") {
		t.Errorf("Error(): got %q, want code and cause", got)
	}
}

func TestIsComparesCodes(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		{"same code", errorsx.NotFound().WithParam("id"), errorsx.NotFound(), true},
		{"other code same status", errorsx.IdempotencyKeyReuse(), errorsx.RequestInProgress(), false},
		{"wrapped", errors.Join(errors.New("x"), errorsx.InvalidAPIKey()), errorsx.InvalidAPIKey(), true},
		{"plain error target", errorsx.NotFound(), errors.New("not_found"), false},
		{"nil *Error target", errorsx.Internal(), (*errorsx.Error)(nil), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := errors.Is(tc.err, tc.target); got != tc.want {
				t.Errorf("got errors.Is = %v, want %v", got, tc.want)
			}
		})
	}
}

// A nil or zero *Error (not made by a constructor) behaves as internal_error
// instead of panicking.
func TestNilAndZeroErrorAreInternal(t *testing.T) {
	internal := rowFor(t, "internal_error")
	for name, e := range map[string]*errorsx.Error{"nil": nil, "zero": {}} {
		t.Run(name, func(t *testing.T) {
			if got := e.Row(); got != internal {
				t.Errorf("Row(): got %+v, want %+v", got, internal)
			}
			if e.Message() != internal.Message || e.Param() != "" || e.RetryAfter() != 0 || e.Unwrap() != nil {
				t.Errorf("got message %q param %q retry %v cause %v", e.Message(), e.Param(), e.RetryAfter(), e.Unwrap())
			}
			if got := e.WithParam("p").Code(); got != errorsx.CodeInternal {
				t.Errorf("WithParam: got code %s, want internal_error", got)
			}
			if e.Error() == "" {
				t.Error("Error(): got empty string")
			}
		})
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		want int64
	}{
		{"negative", -time.Hour, 1},
		{"zero", 0, 1},
		{"one nanosecond", time.Nanosecond, 1},
		{"half second", 500 * time.Millisecond, 1},
		{"one second", time.Second, 1},
		{"just over one second", time.Second + time.Nanosecond, 2},
		{"1.5 seconds", 1500 * time.Millisecond, 2},
		{"two seconds", 2 * time.Second, 2},
		{"59.001 seconds", 59*time.Second + time.Millisecond, 60},
		{"one hour", time.Hour, 3600},
		{"max duration", time.Duration(1<<63 - 1), 9223372037},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := errorsx.RetryAfterSeconds(tc.d); got != tc.want {
				t.Errorf("RetryAfterSeconds(%v): got %d, want %d", tc.d, got, tc.want)
			}
		})
	}
}

func TestAppendEnvelopeAppends(t *testing.T) {
	prefix := []byte("prefix:")
	got := string(errorsx.AppendEnvelope(prefix, errorsx.NotFound().WithParam("model")))
	want := `prefix:{"error":{"type":"invalid_request_error","code":"not_found","message":"The requested resource was not found.","param":"model"}}`
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
