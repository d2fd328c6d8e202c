package idempotency_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/clipia/apiguard/idempotency"
)

// TestStoredResponsesStayTheirOwn: the guard reuses its capture buffers
// once the memory store has copied a response (or the claim was
// released); every response replays as it was first sent, however many
// responses of every size were captured after it.
func TestStoredResponsesStayTheirOwn(t *testing.T) {
	app := newApp(t, idempotency.Config{}, func(w http.ResponseWriter, r *http.Request) error {
		n := r.Header.Get("X-N")
		w.Header().Set("Location", "/v1/generations/"+n)
		if strings.HasSuffix(n, "7") { // not stored: its buffer goes back at once
			return text(w, http.StatusServiceUnavailable, "busy "+n)
		}
		return text(w, http.StatusCreated, "made "+n+" "+strings.Repeat(n, len(n)*37))
	})
	const n = 60
	send := func(i int) (*http.Response, string) {
		rec := do(app, req{Key: fmt.Sprintf("k%d", i), Body: `{}`, Headers: map[string]string{"X-N": fmt.Sprintf("%d", i*13)}})
		return rec.Result(), rec.Body.String()
	}
	first := make([]string, n)
	for i := range n {
		resp, body := send(i)
		first[i] = fmt.Sprintf("%d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	for i := range n {
		resp, body := send(i)
		got := fmt.Sprintf("%d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
		replayed := resp.Header.Get(idempotency.HeaderIdempotentReplayed) == "true"
		stored := resp.StatusCode == http.StatusCreated
		if got != first[i] || replayed != stored {
			t.Errorf("request %d again: got %q (replayed %v), want %q (replayed %v)", i, got, replayed, first[i], stored)
		}
	}
}
