package idempotency_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/idempotency"
)

// txDouble is an in-memory TxStore: a MemoryStore for the records, and a
// "database" of committed rows that a handler writes through the Tx in its
// context. A row reaches db only when the record commits with it.
type txDouble struct {
	idempotency.Store
	mu        sync.Mutex
	db        map[string]string
	begins    int
	commits   int
	rollbacks int
	beginErr  error
	commitErr error
	onCommit  func() // called at the start of every Commit
}

func newTxDouble(t *testing.T) *txDouble {
	return &txDouble{Store: newMemoryStore(t, idempotency.MemoryConfig{}), db: map[string]string{}}
}

type txKey struct{}

// fakeTx is one request's unit of work.
type fakeTx struct {
	s          *txDouble
	key, token string
	writes     map[string]string
	done       bool
}

func (s *txDouble) Begin(ctx context.Context, key, token string) (context.Context, idempotency.Tx, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.begins++
	if s.beginErr != nil {
		return nil, nil, s.beginErr
	}
	tx := &fakeTx{s: s, key: key, token: token, writes: map[string]string{}}
	return context.WithValue(ctx, txKey{}, tx), tx, nil
}

func (tx *fakeTx) Commit(ctx context.Context, resp idempotency.Response, retention time.Duration) error {
	s := tx.s
	if s.onCommit != nil {
		s.onCommit()
	}
	s.mu.Lock()
	s.commits++
	err := s.commitErr
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if err := s.Store.Commit(ctx, tx.key, tx.token, resp, retention); err != nil {
		return err // nothing applied
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range tx.writes {
		s.db[k] = v
	}
	tx.done = true
	return nil
}

func (tx *fakeTx) Rollback(context.Context) error {
	s := tx.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if tx.done {
		return nil
	}
	s.rollbacks++
	tx.writes, tx.done = nil, true
	return nil
}

func (s *txDouble) rows() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.db)
}

func (s *txDouble) counts() (begins, commits, rollbacks int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.begins, s.commits, s.rollbacks
}

// insert is what a handler does to write in its transaction.
func insert(r *http.Request, k, v string) error {
	tx, ok := r.Context().Value(txKey{}).(*fakeTx)
	if !ok {
		return errors.New("no transaction in the handler's context")
	}
	tx.writes[k] = v
	return nil
}

// watchWriter is a recorder that notes when the client got its first byte
// or status.
type watchWriter struct {
	*httptest.ResponseRecorder
	wrote atomic.Bool
}

func (w *watchWriter) WriteHeader(code int) {
	w.wrote.Store(true)
	w.ResponseRecorder.WriteHeader(code)
}

func (w *watchWriter) Write(b []byte) (int, error) {
	w.wrote.Store(true)
	return w.ResponseRecorder.Write(b)
}

func TestTxStoreCommitsWithTheResponse(t *testing.T) {
	s := newTxDouble(t)
	var calls atomic.Int32
	app := newApp(t, idempotency.Config{Store: s}, func(w http.ResponseWriter, r *http.Request) error {
		calls.Add(1)
		if err := insert(r, "gen_1", "a cat"); err != nil {
			return err
		}
		// Flush does nothing while the response is held back.
		if err := http.NewResponseController(w).Flush(); err != nil {
			return err
		}
		return created(w, `{"id":"gen_1"}`)
	})
	ww := &watchWriter{ResponseRecorder: httptest.NewRecorder()}
	var wroteAtCommit atomic.Bool
	s.onCommit = func() { wroteAtCommit.Store(ww.wrote.Load()) }
	hr := httptest.NewRequest(http.MethodPost, "/v1/generations", strings.NewReader(`{"prompt":"a cat"}`))
	hr.Header.Set(idempotency.HeaderIdempotencyKey, "k")
	hr.Header.Set("Content-Type", "application/json")
	app.ServeHTTP(ww, hr)
	if ww.Code != 201 || ww.Body.String() != `{"id":"gen_1"}` {
		t.Fatalf("first: got %d %q, want 201", ww.Code, ww.Body)
	}
	if wroteAtCommit.Load() {
		t.Error("the client saw the response before the commit")
	}
	if got := ww.Header().Get("Location"); got != "/v1/generations/gen_1" {
		t.Errorf("Location: got %q", got)
	}
	if ww.Header().Get("X-Request-Id") == "" {
		t.Error("the held-back response lost the X-Request-Id set before the handler")
	}
	if s.rows() != 1 {
		t.Errorf("rows: got %d, want 1", s.rows())
	}
	rec := do(app, req{Key: "k", Body: `{"prompt":"a cat"}`})
	if rec.Code != 201 || rec.Header().Get(idempotency.HeaderIdempotentReplayed) != "true" || rec.Body.String() != `{"id":"gen_1"}` {
		t.Errorf("replay: got %d %q replayed=%q", rec.Code, rec.Body, rec.Header().Get(idempotency.HeaderIdempotentReplayed))
	}
	if b, c, rb := s.counts(); b != 1 || c != 1 || rb != 0 || calls.Load() != 1 {
		t.Errorf("begins %d commits %d rollbacks %d calls %d, want 1 1 0 1", b, c, rb, calls.Load())
	}
}

// TestTxStoreFailedCommit: a commit that fails (the store, or the claim
// lost) rolls back, releases, and answers 503; a retry runs again.
func TestTxStoreFailedCommit(t *testing.T) {
	for _, cerr := range []error{errors.New("serialization failure"), idempotency.ErrLeaseLost} {
		t.Run(cerr.Error(), func(t *testing.T) {
			s := newTxDouble(t)
			s.commitErr = cerr
			logs := &logBuffer{}
			var calls atomic.Int32
			app := newApp(t, idempotency.Config{Store: s, Logger: logs.logger()}, func(w http.ResponseWriter, r *http.Request) error {
				calls.Add(1)
				_ = insert(r, "gen", "x")
				w.Header().Set("Set-Cookie", "session=1")
				return created(w, `{"id":"gen_1"}`)
			})
			rec := do(app, req{Key: "k"})
			if rec.Code != 503 || errorCode(t, rec) != "service_unavailable" {
				t.Fatalf("got %d %s, want 503 service_unavailable", rec.Code, rec.Body)
			}
			for _, h := range []string{"Location", "Set-Cookie", "Etag"} {
				if v := rec.Header().Get(h); v != "" {
					t.Errorf("the 503 carries the handler's %s: %q", h, v)
				}
			}
			if strings.Contains(rec.Body.String(), "serialization") {
				t.Errorf("the 503 leaks the cause: %s", rec.Body)
			}
			if s.rows() != 0 {
				t.Errorf("rows: got %d, want 0 (rolled back)", s.rows())
			}
			if _, _, rb := s.counts(); rb != 1 {
				t.Errorf("rollbacks: got %d, want 1", rb)
			}
			if !strings.Contains(logs.String(), "level=ERROR") {
				t.Errorf("log: got %q, want the failed commit at Error", logs.String())
			}
			s.mu.Lock()
			s.commitErr = nil
			s.mu.Unlock()
			rec = do(app, req{Key: "k"})
			if rec.Code != 201 || rec.Header().Get(idempotency.HeaderIdempotentReplayed) != "" || calls.Load() != 2 {
				t.Errorf("retry: got %d replayed=%q calls %d, want a fresh 201 (the claim was released)",
					rec.Code, rec.Header().Get(idempotency.HeaderIdempotentReplayed), calls.Load())
			}
			if s.rows() != 1 {
				t.Errorf("rows after the retry: got %d, want 1", s.rows())
			}
		})
	}
}

// TestTxStoreOutcomesNotStored: what is not stored is rolled back and
// released; a retryable answer reaches the client as it is, and a success
// that cannot be held back becomes 500.
func TestTxStoreOutcomesNotStored(t *testing.T) {
	tests := []struct {
		name       string
		cfg        idempotency.Config
		handler    handler
		wantStatus int
		wantCode   string
		wantBody   string
	}{
		{"5xx as is", idempotency.Config{}, func(w http.ResponseWriter, r *http.Request) error {
			return text(w, http.StatusBadGateway, "upstream down")
		}, 502, "", "upstream down"},
		{"an error returned", idempotency.Config{}, func(w http.ResponseWriter, r *http.Request) error {
			return errors.New("boom")
		}, 500, "internal_error", ""},
		{"X-Should-Retry: true as is", idempotency.Config{}, func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("X-Should-Retry", "true")
			return text(w, http.StatusConflict, "try later")
		}, 409, "", "try later"},
		{"a panic", idempotency.Config{}, func(w http.ResponseWriter, r *http.Request) error {
			panic("boom")
		}, 500, "internal_error", ""},
		{"over MaxResponseSize", idempotency.Config{MaxResponseSize: 4}, func(w http.ResponseWriter, r *http.Request) error {
			return text(w, http.StatusCreated, "0123456789")
		}, 500, "internal_error", ""},
		{"no response", idempotency.Config{}, func(w http.ResponseWriter, r *http.Request) error {
			return nil
		}, 500, "internal_error", ""},
		{"a hijack fails", idempotency.Config{}, func(w http.ResponseWriter, r *http.Request) error {
			_, _, err := http.NewResponseController(w).Hijack()
			if !errors.Is(err, http.ErrNotSupported) {
				return text(w, http.StatusCreated, "hijack did not fail")
			}
			return err
		}, 500, "internal_error", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTxDouble(t)
			cfg := tc.cfg
			cfg.Store = s
			var calls atomic.Int32
			app := newApp(t, cfg, func(w http.ResponseWriter, r *http.Request) error {
				calls.Add(1)
				_ = insert(r, "row", "x")
				return tc.handler(w, r)
			})
			for i := range 2 { // the claim was released: the retry runs again
				rec := do(app, req{Key: "k"})
				if rec.Code != tc.wantStatus {
					t.Fatalf("request %d: got %d %s, want %d", i, rec.Code, rec.Body, tc.wantStatus)
				}
				if tc.wantCode != "" && errorCode(t, rec) != tc.wantCode {
					t.Errorf("request %d: code %q, want %q", i, errorCode(t, rec), tc.wantCode)
				}
				if tc.wantBody != "" && rec.Body.String() != tc.wantBody {
					t.Errorf("request %d: body %q, want %q", i, rec.Body, tc.wantBody)
				}
				if rec.Header().Get(idempotency.HeaderIdempotentReplayed) != "" {
					t.Errorf("request %d: replayed", i)
				}
			}
			if calls.Load() != 2 {
				t.Errorf("handler calls: got %d, want 2", calls.Load())
			}
			if s.rows() != 0 {
				t.Errorf("rows: got %d, want 0", s.rows())
			}
			if _, c, rb := s.counts(); c != 0 || rb != 2 {
				t.Errorf("commits %d rollbacks %d, want 0 and 2", c, rb)
			}
		})
	}
}

// TestTxStoreBeginFails: 503, the handler does not run, the claim is
// released.
func TestTxStoreBeginFails(t *testing.T) {
	s := newTxDouble(t)
	s.beginErr = errors.New("pool exhausted")
	var calls atomic.Int32
	app := newApp(t, idempotency.Config{Store: s}, func(w http.ResponseWriter, r *http.Request) error {
		calls.Add(1)
		return created(w, `{}`)
	})
	if rec := do(app, req{Key: "k"}); rec.Code != 503 || errorCode(t, rec) != "service_unavailable" || calls.Load() != 0 {
		t.Fatalf("got %d %s calls %d, want 503 and no call", rec.Code, rec.Body, calls.Load())
	}
	s.mu.Lock()
	s.beginErr = nil
	s.mu.Unlock()
	if rec := do(app, req{Key: "k"}); rec.Code != 201 || calls.Load() != 1 {
		t.Fatalf("after: got %d calls %d, want 201 (the claim was released)", rec.Code, calls.Load())
	}
}

// TestTxStoreLostClaim: the key is taken over while the handler runs; its
// context is cancelled with ErrLeaseLost, and its success is not sent:
// the commit is refused, rolled back, and the client gets 503.
func TestTxStoreLostClaim(t *testing.T) {
	clk := newFakeClock()
	s := &txDouble{Store: newMemoryStore(t, idempotency.MemoryConfig{Now: clk.Now}), db: map[string]string{}}
	pending := new(idempotency.Pending)
	started := make(chan struct{})
	causes := make(chan error, 1)
	app := newApp(t, idempotency.Config{Store: s, Lease: testLease, Pending: pending}, func(w http.ResponseWriter, r *http.Request) error {
		_ = insert(r, "row", "x")
		close(started)
		<-r.Context().Done()
		causes <- context.Cause(r.Context())
		return created(w, `{"id":"stale"}`) // a handler that answers all the same
	})
	done := make(chan int)
	go func() { done <- do(app, req{Key: "k", Tenant: "acme"}).Code }()
	<-started
	takeOver(t, s, recordKey("k"), func(string) { clk.Advance(2 * testLease) })
	if cause := <-causes; cause != idempotency.ErrLeaseLost {
		t.Errorf("context.Cause: got %v, want ErrLeaseLost", cause)
	}
	if code := <-done; code != 503 {
		t.Errorf("client: got %d, want 503", code)
	}
	waitPending(t, pending)
	if s.rows() != 0 {
		t.Errorf("rows: got %d, want 0", s.rows())
	}
	if _, _, rb := s.counts(); rb != 1 {
		t.Errorf("rollbacks: got %d, want 1", rb)
	}
}

// TestBufferWriterInterfaces: the held-back writer keeps ResponseController
// working (Flush a no-op, Hijack refused) and unwraps to the client's.
func TestBufferWriterInterfaces(t *testing.T) {
	s := newTxDouble(t)
	app := newApp(t, idempotency.Config{Store: s}, func(w http.ResponseWriter, r *http.Request) error {
		if _, ok := w.(http.Flusher); !ok {
			return errors.New("not a Flusher")
		}
		h, ok := w.(http.Hijacker)
		if !ok {
			return errors.New("not a Hijacker")
		}
		var conn net.Conn
		var rw *bufio.ReadWriter
		conn, rw, err := h.Hijack()
		if conn != nil || rw != nil || !errors.Is(err, http.ErrNotSupported) {
			return errors.New("hijack did not fail")
		}
		if u, ok := w.(interface{ Unwrap() http.ResponseWriter }); !ok || u.Unwrap() == nil {
			return errors.New("no Unwrap")
		}
		w.WriteHeader(http.StatusCreated)
		_, err = io.WriteString(w, "ok")
		return err
	})
	if rec := do(app, req{Key: "k"}); rec.Code != 201 || rec.Body.String() != "ok" {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
}

// TestTxStoreKeepsTheRequestID: the id the guard gives a request without
// one (for its logs) is on the held-back response, as on any other.
func TestTxStoreKeepsTheRequestID(t *testing.T) {
	g, err := idempotency.New(idempotency.Config{Store: newTxDouble(t)})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/x", nil)
	r.Header.Set(idempotency.HeaderIdempotencyKey, "k")
	rec := httptest.NewRecorder()
	err = serve(g, rec, r, "/x", func(w http.ResponseWriter, r *http.Request) error {
		return text(w, http.StatusCreated, "made")
	}, func(http.ResponseWriter, *http.Request, error) {})
	if err != nil || rec.Code != 201 || rec.Header().Get("X-Request-Id") == "" {
		t.Fatalf("got %d %v, X-Request-Id %q; want 201 with an id", rec.Code, err, rec.Header().Get("X-Request-Id"))
	}
}
