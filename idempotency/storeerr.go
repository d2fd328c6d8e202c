package idempotency

import (
	"errors"
	"fmt"

	"github.com/clipia/apiguard/errorsx"
)

// storeFailed is the answer to a store call op that failed with err: 503
// service_unavailable with Retry-After, the store being unreachable or
// busy. A store that knows its failure is permanent (the same request would
// fail the same way again, such as a value the database cannot take)
// returns an *errorsx.Error of a non-retryable row or of 500
// internal_error, and that row is answered instead: a client must never be
// told to retry what cannot succeed.
func storeFailed(op string, err error) *errorsx.Error {
	cause := fmt.Errorf("idempotency: %s: %w", op, err)
	var e *errorsx.Error
	if errors.As(err, &e) && (!e.Retryable() || e.Code() == errorsx.CodeInternal) {
		return e.WithCause(cause)
	}
	return errorsx.ServiceUnavailable().WithCause(cause)
}
