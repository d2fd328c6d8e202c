package errorsx

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clipia/apiguard/internal/alloctest"
)

// TestObserveAllocatesNothingWithoutSDK: with the default (global, no-op)
// providers, counting an error and looking at the span allocate nothing,
// so the renderer's hot path costs what it did before telemetry.
func TestObserveAllocatesNothingWithoutSDK(t *testing.T) {
	r := NewRenderer(HandlerConfig{})
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	for _, e := range []*Error{NotFound(), RateLimitExceeded(), Internal()} {
		if n := alloctest.PerRun(1000, func() { r.r.observe(req, e) }); n != 0 {
			t.Errorf("%s: observe allocates %v times per error, want 0", e.Code(), n)
		}
	}
}
