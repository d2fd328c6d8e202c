package idemtest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/idempotency"
)

// txStore is an in-memory idempotency.TxStore double: a MemoryStore for
// the records, and rows that a handler writes through the transaction in
// its context, kept only when the record commits with them.
type txStore struct {
	idempotency.Store
	mu        sync.Mutex
	rows      map[string]string
	rollbacks int
	commitErr error
}

type txKey struct{}

type tx struct {
	s          *txStore
	key, token string
	writes     map[string]string
	done       bool
}

func (s *txStore) Begin(ctx context.Context, key, token string) (context.Context, idempotency.Tx, error) {
	t := &tx{s: s, key: key, token: token, writes: map[string]string{}}
	return context.WithValue(ctx, txKey{}, t), t, nil
}

func (t *tx) Commit(ctx context.Context, resp idempotency.Response, retention time.Duration) error {
	t.s.mu.Lock()
	err := t.s.commitErr
	t.s.mu.Unlock()
	if err != nil {
		return err
	}
	if err := t.s.Store.Commit(ctx, t.key, t.token, resp, retention); err != nil {
		return err
	}
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	for k, v := range t.writes {
		t.s.rows[k] = v
	}
	t.done = true
	return nil
}

func (t *tx) Rollback(context.Context) error {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	if !t.done {
		t.s.rollbacks++
		t.writes, t.done = nil, true
	}
	return nil
}

func (s *txStore) state() (rows, rollbacks int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rows), s.rollbacks
}

// insertRow writes a row in the request's transaction.
func insertRow(r *http.Request) error {
	t, ok := r.Context().Value(txKey{}).(*tx)
	if !ok {
		return errors.New("no transaction in the handler's context")
	}
	t.writes["row"] = "x"
	return nil
}

// runTx runs the transactional-store cases: the response is held back
// until the commit; a failed commit answers 503 without the handler's
// headers; what is not stored is rolled back.
func runTx(t *testing.T, app app) {
	tests := []struct {
		name       string
		commitErr  error
		fail       string // "", "5xx", "panic"
		wantStatus int
		wantCode   string
		wantRows   int
		wantRB     int
	}{
		{"committed with the response", nil, "", 201, "", 1, 0},
		{"a failed commit answers 503", errors.New("serialization failure"), "", 503, "service_unavailable", 0, 1},
		{"a lost claim answers 503", idempotency.ErrLeaseLost, "", 503, "service_unavailable", 0, 1},
		{"a 5xx is rolled back and sent as is", nil, "5xx", 502, "", 0, 1},
		{"a panic is rolled back", nil, "panic", 500, "internal_error", 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
			t.Cleanup(func() { _ = ms.Close() })
			s := &txStore{Store: ms, rows: map[string]string{}, commitErr: tc.commitErr}
			var calls atomic.Int32
			h := app(t, idempotency.Config{Store: s}, func(w http.ResponseWriter, r *http.Request) error {
				calls.Add(1)
				if err := insertRow(r); err != nil {
					return err
				}
				switch tc.fail {
				case "5xx":
					return text(w, http.StatusBadGateway, "upstream down")
				case "panic":
					panic("boom")
				}
				w.Header().Set("Set-Cookie", "session=1")
				return Created(w, `{"id":"gen_1"}`)
			})
			rec := Do(h, Req{Key: "k"})
			if rec.Code != tc.wantStatus {
				t.Fatalf("got %d %s, want %d", rec.Code, rec.Body, tc.wantStatus)
			}
			if tc.wantCode != "" && ErrorCode(t, rec) != tc.wantCode {
				t.Errorf("code: got %q, want %q", ErrorCode(t, rec), tc.wantCode)
			}
			if tc.wantCode == "service_unavailable" {
				for _, k := range []string{"Set-Cookie", "Location", "Etag"} {
					if v := rec.Header().Get(k); v != "" {
						t.Errorf("the 503 carries the handler's %s: %q", k, v)
					}
				}
				if strings.Contains(rec.Body.String(), "gen_1") {
					t.Errorf("the 503 carries the handler's body: %s", rec.Body)
				}
			}
			if rows, rb := s.state(); rows != tc.wantRows || rb != tc.wantRB {
				t.Errorf("rows %d rollbacks %d, want %d and %d", rows, rb, tc.wantRows, tc.wantRB)
			}
			s.mu.Lock()
			s.commitErr = nil
			s.mu.Unlock()
			rec = Do(h, Req{Key: "k"})
			wantReplay := tc.wantStatus == 201
			if got := rec.Header().Get(idempotency.HeaderIdempotentReplayed) == "true"; got != wantReplay {
				t.Errorf("second request: replayed %v, want %v (%d %s)", got, wantReplay, rec.Code, rec.Body)
			}
			if wantCalls := map[bool]int32{true: 1, false: 2}[wantReplay]; calls.Load() != wantCalls {
				t.Errorf("handler calls: got %d, want %d", calls.Load(), wantCalls)
			}
		})
	}
}
