package load

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Row is one row of the contract's table: the only (status, code) pairs
// that exist.
type Row struct {
	Status    int
	Code      string
	Type      string
	Retryable bool
}

// Rows are the eleven rows of the contract's table (docs/errors.md, "The table of codes"), written out here independently
// of errorsx so that the harness checks the library from outside.
var Rows = []Row{
	{400, "invalid_request", "invalid_request_error", false},
	{401, "invalid_api_key", "authentication_error", false},
	{402, "insufficient_credits", "invalid_request_error", false},
	{403, "insufficient_scope", "permission_error", false},
	{404, "not_found", "invalid_request_error", false},
	{409, "idempotency_key_reuse", "idempotency_error", false},
	{409, "request_in_progress", "idempotency_error", true},
	{422, "model_input_invalid", "invalid_request_error", false},
	{429, "rate_limit_exceeded", "rate_limit_error", true},
	{500, "internal_error", "api_error", true},
	{503, "service_unavailable", "api_error", true},
}

// Outcome is what the harness keeps of one response.
type Outcome struct {
	Status   int
	Code     string // error code; "" on 2xx
	Replayed bool   // Idempotent-Replayed: true
	Header   http.Header
	Body     []byte
}

// Key is "201", or "409 request_in_progress": the status and the code.
func (o Outcome) Key() string {
	if o.Code == "" {
		return strconv.Itoa(o.Status)
	}
	return strconv.Itoa(o.Status) + " " + o.Code
}

// CheckResponse checks one response against the contract (§1–§3): every
// response has a sane X-Request-Id; a non-2xx response is exactly the
// envelope {"error":{type,code,message[,param]}} of one of the eleven rows,
// as application/json; charset=utf-8, with X-Should-Retry matching the row
// and Retry-After on 429 (and, when present, a whole number ≥ 1). It
// returns the outcome, and an error describing the first violation.
func CheckResponse(method string, status int, h http.Header, body []byte) (Outcome, error) {
	o := Outcome{Status: status, Header: h, Body: body, Replayed: h.Get("Idempotent-Replayed") == "true"}
	if id := h.Get("X-Request-Id"); id == "" || len(id) > 200 {
		return o, fmt.Errorf("status %d: missing or insane X-Request-Id %q", status, id)
	}
	if status >= 200 && status < 300 {
		return o, nil
	}
	if status < 400 {
		return o, fmt.Errorf("status %d is neither 2xx nor a contract error", status)
	}
	if ct := h.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		return o, fmt.Errorf("status %d: Content-Type %q, want application/json; charset=utf-8", status, ct)
	}
	if method == http.MethodHead {
		return o, nil
	}
	var env map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&env); err != nil {
		return o, fmt.Errorf("status %d: body is not a JSON object: %v: %q", status, err, body)
	}
	if dec.More() {
		return o, fmt.Errorf("status %d: trailing data after the envelope: %q", status, body)
	}
	if len(env) != 1 || env["error"] == nil {
		return o, fmt.Errorf("status %d: envelope must hold exactly \"error\": %q", status, body)
	}
	var fields map[string]any
	if err := json.Unmarshal(env["error"], &fields); err != nil {
		return o, fmt.Errorf("status %d: error member is not an object: %q", status, body)
	}
	str := func(name string) (string, bool) {
		s, ok := fields[name].(string)
		return s, ok && s != ""
	}
	typ, ok1 := str("type")
	code, ok2 := str("code")
	_, ok3 := str("message")
	if !ok1 || !ok2 || !ok3 {
		return o, fmt.Errorf("status %d: type, code and message must be non-empty strings: %q", status, body)
	}
	o.Code = code
	for k := range fields {
		switch k {
		case "type", "code", "message":
		case "param":
			if _, ok := str("param"); !ok {
				return o, fmt.Errorf("status %d: param present but not a non-empty string: %q", status, body)
			}
		default:
			return o, fmt.Errorf("status %d: unexpected member %q inside error: %q", status, k, body)
		}
	}
	var row *Row
	for i := range Rows {
		if Rows[i].Status == status && Rows[i].Code == code {
			row = &Rows[i]
		}
	}
	if row == nil {
		return o, fmt.Errorf("(%d, %s) is not one of the eleven rows: %q", status, code, body)
	}
	if row.Type != typ {
		return o, fmt.Errorf("(%d, %s): type %q, want %q", status, code, typ, row.Type)
	}
	if got, want := h.Get("X-Should-Retry"), strconv.FormatBool(row.Retryable); got != want {
		return o, fmt.Errorf("(%d, %s): X-Should-Retry %q, want %q", status, code, got, want)
	}
	ra := h.Get("Retry-After")
	if status == http.StatusTooManyRequests && ra == "" {
		return o, fmt.Errorf("429 without Retry-After")
	}
	if ra != "" {
		if n, err := strconv.Atoi(ra); err != nil || n < 1 {
			return o, fmt.Errorf("(%d, %s): Retry-After %q is not a whole number ≥ 1", status, code, ra)
		}
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
		return o, fmt.Errorf("401 without a Bearer WWW-Authenticate challenge")
	}
	for _, leak := range []string{"10.20.30.40", "db-primary", "dial tcp", "goroutine ", ".go:"} {
		if bytes.Contains(body, []byte(leak)) {
			return o, fmt.Errorf("(%d, %s): message leaks %q: %q", status, code, leak, body)
		}
	}
	return o, nil
}
