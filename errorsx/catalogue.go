package errorsx

// Row is one row of the catalogue: a (status, code) pair that may leave the
// server, with its type, retryability, a short title (used by problem+json)
// and the default message.
type Row struct {
	Status    int    `json:"status"`
	Code      Code   `json:"code"`
	Type      string `json:"type"`
	Retryable bool   `json:"retryable"`
	Title     string `json:"title"`
	Message   string `json:"message"`
}

// Indexes into rows, in table order.
const (
	rowInvalidRequest = iota
	rowInvalidAPIKey
	rowInsufficientCredits
	rowInsufficientScope
	rowNotFound
	rowIdempotencyKeyReuse
	rowRequestInProgress
	rowModelInputInvalid
	rowRateLimitExceeded
	rowInternal
	rowServiceUnavailable
)

// rows is the catalogue. testdata/codes.json holds the same table as data; a
// test keeps the two identical.
var rows = [...]Row{
	{400, CodeInvalidRequest, "invalid_request_error", false, "Invalid request",
		"The request is invalid. Check the body and parameters."},
	{401, CodeInvalidAPIKey, "authentication_error", false, "Invalid API key",
		"The API key is missing, invalid or revoked."},
	{402, CodeInsufficientCredits, "invalid_request_error", false, "Insufficient credits",
		"Not enough credits for this generation. Please top up your balance."},
	{403, CodeInsufficientScope, "permission_error", false, "Insufficient scope",
		"The API key lacks the scope this request needs."},
	{404, CodeNotFound, "invalid_request_error", false, "Not found",
		"The requested resource was not found."},
	{409, CodeIdempotencyKeyReuse, "idempotency_error", false, "Idempotency key reused",
		"This Idempotency-Key was already used with different parameters. Use a new key."},
	{409, CodeRequestInProgress, "idempotency_error", true, "Request in progress",
		"A request with this Idempotency-Key is still being processed. Retry after it finishes."},
	{422, CodeModelInputInvalid, "invalid_request_error", false, "Model input invalid",
		"The parameters are not accepted by the chosen model."},
	{429, CodeRateLimitExceeded, "rate_limit_error", true, "Rate limit exceeded",
		"Rate limit exceeded. Retry after the time given in Retry-After."},
	{500, CodeInternal, "api_error", true, "Internal error",
		"An internal error occurred. Please retry; if it persists, contact support with the request id."},
	{503, CodeServiceUnavailable, "api_error", true, "Service unavailable",
		"The service is temporarily unavailable. Please retry with backoff."},
}

// Rows returns a copy of the catalogue in table order. It is the only set of
// (status, code) pairs the renderer ever emits.
func Rows() []Row {
	out := make([]Row, len(rows))
	copy(out, rows[:])
	return out
}

// Lookup returns the catalogue row of code.
func Lookup(code Code) (Row, bool) {
	r, ok := lookup(code)
	if !ok {
		return Row{}, false
	}
	return *r, true
}

func lookup(code Code) (*Row, bool) {
	for i := range rows {
		if rows[i].Code == code {
			return &rows[i], true
		}
	}
	return nil, false
}
