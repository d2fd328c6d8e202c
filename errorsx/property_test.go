package errorsx_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/quick"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/middleware/echo4"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// randString returns short strings that stress the encoder: ASCII, control
// characters, quotes and backslashes, HTML characters, multi-byte runes,
// U+2028/U+2029 and invalid UTF-8.
func randString(r *rand.Rand) string {
	pieces := []string{
		"", "a", "prompt", "input.duration", " ", "\"", "\\", "<", ">", "&", "\n", "\r", "\t", "\b", "\f",
		"\x00", "\x01", "\x1f", "\x7f", "é", "日本", "😀", "\u2028", "\u2029", "\xff", "\xc3", "\xed\xa0\x80",
		"%w", "%v", "{", "}", "null", "SELECT * FROM users", "10.0.0.1:5432",
	}
	n := r.Intn(6)
	var b strings.Builder
	for range n {
		if r.Intn(4) == 0 {
			b.WriteByte(byte(r.Intn(256)))
		} else {
			b.WriteString(pieces[r.Intn(len(pieces))])
		}
	}
	return b.String()
}

// echoMessages are the odd things code puts in echo.HTTPError.Message.
func randEchoMessage(r *rand.Rand) any {
	switch r.Intn(8) {
	case 0:
		return nil
	case 1:
		return randString(r)
	case 2:
		return r.Int()
	case 3:
		return errors.New(randString(r))
	case 4:
		return map[string]any{"message": randString(r), "n": 1}
	case 5:
		return struct{ A chan int }{}
	case 6:
		return json.RawMessage(`{"x":`)
	default:
		return []string{randString(r)}
	}
}

var errorConstructors = []func() *errorsx.Error{
	errorsx.InvalidRequest, errorsx.InvalidAPIKey, errorsx.InsufficientCredits, errorsx.InsufficientScope,
	errorsx.NotFound, errorsx.IdempotencyKeyReuse, errorsx.RequestInProgress, errorsx.ModelInputInvalid,
	errorsx.RateLimitExceeded, errorsx.Internal, errorsx.ServiceUnavailable,
}

func randAPIError(r *rand.Rand) *errorsx.Error {
	var e *errorsx.Error
	switch r.Intn(4) {
	case 0:
		e = errorsx.New(errorsx.Code(randString(r))) // usually off-table
	case 1:
		e = &errorsx.Error{}
	default:
		e = errorConstructors[r.Intn(len(errorConstructors))]()
	}
	if r.Intn(2) == 0 {
		e = e.WithMessage(randString(r))
	}
	if r.Intn(2) == 0 {
		e = e.WithParam(randString(r))
	}
	if r.Intn(2) == 0 {
		e = e.WithRetryAfter(time.Duration(r.Int63n(int64(10*time.Second))) - time.Second)
	}
	return e
}

type wrapper struct{ err error }

func (w wrapper) Error() string { return "wrapper: " + w.err.Error() }
func (w wrapper) Unwrap() error { return w.err }

type multi struct{ errs []error }

func (m multi) Error() string   { return "multi" }
func (m multi) Unwrap() []error { return m.errs }

type panicOnAs struct{}

func (panicOnAs) Error() string { return "panics on As" }
func (panicOnAs) As(any) bool   { panic("As") }

// randLeaf returns one error of a random kind.
func randLeaf(r *rand.Rand) error {
	switch r.Intn(16) {
	case 0:
		return errors.New(randString(r))
	case 1, 2:
		return randAPIError(r)
	case 3, 4:
		return echo.NewHTTPError(100+r.Intn(500), randEchoMessage(r))
	case 5:
		return &echo.HTTPError{Code: []int{0, -1, 99, 600, 1000, 404, 405, 413, 415}[r.Intn(9)], Message: randEchoMessage(r)}
	case 6:
		return []error{context.Canceled, context.DeadlineExceeded, io.EOF, io.ErrUnexpectedEOF}[r.Intn(4)]
	case 7:
		err := json.Unmarshal([]byte(randString(r)), new(map[string]int))
		if err == nil {
			err = json.Unmarshal([]byte(`{"a":}`), new(any))
		}
		return err
	case 8:
		var typ reflect.Type
		if r.Intn(2) == 0 {
			typ = reflect.TypeOf([]any{0, "", 1.5, true, []int{}, struct{}{}, map[string]int{}, int8(1)}[r.Intn(8)])
		}
		return &json.UnmarshalTypeError{Value: randString(r), Type: typ, Field: randString(r), Offset: r.Int63()}
	case 9:
		return &http.MaxBytesError{Limit: r.Int63n(1 << 40)}
	case 10:
		return []error{(*errorsx.Error)(nil), (*echo.HTTPError)(nil), (*json.SyntaxError)(nil),
			(*json.UnmarshalTypeError)(nil), (*http.MaxBytesError)(nil), (*echo.BindingError)(nil)}[r.Intn(6)]
	case 11:
		return panicky{}
	case 12:
		return panicOnAs{}
	case 13:
		return echo.NewBindingError(randString(r), []string{randString(r)}, randEchoMessage(r), errors.New(randString(r)))
	default:
		return errors.New(randString(r))
	}
}

// randErr returns a random error tree up to depth levels of wrapping.
func randErr(r *rand.Rand, depth int) error {
	if depth == 0 || r.Intn(4) == 0 {
		return randLeaf(r)
	}
	inner := randErr(r, depth-1)
	switch r.Intn(8) {
	case 0:
		return fmt.Errorf("%s: %w", randString(r), inner)
	case 1:
		return errors.Join(randErr(r, depth-1), inner, randErr(r, depth-1))
	case 2:
		return fmt.Errorf("%w; %w", inner, randErr(r, depth-1))
	case 3:
		return echo.NewHTTPError(100+r.Intn(500), randEchoMessage(r)).SetInternal(inner)
	case 4:
		return randAPIError(r).WithCause(inner)
	case 5:
		return wrapper{inner}
	case 6:
		return multi{[]error{nil, inner}}
	default:
		return fmt.Errorf("%v", inner) // flattened: the chain is cut
	}
}

// randomCase is one generated request: an error and the request details.
type randomCase struct {
	Err       error
	Method    string
	Accept    string
	RequestID string
	Auth      bool
}

func (randomCase) Generate(r *rand.Rand, size int) reflect.Value {
	accepts := []string{"", "application/json", "application/problem+json", "application/problem+json;q=0.5, application/json;q=0.6",
		"*/*", "application/problem+json, */*;q=0.1", "text/html", randString(r)}
	ids := []string{"", "req_123", uuid.NewString(), strings.Repeat("x", 200), randString(r)}
	return reflect.ValueOf(randomCase{
		Err:       randErr(r, 1+r.Intn(5)),
		Method:    []string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodDelete}[r.Intn(4)],
		Accept:    accepts[r.Intn(len(accepts))],
		RequestID: ids[r.Intn(len(ids))],
		Auth:      r.Intn(2) == 0,
	})
}

type errKey struct{}

// checkRandomCase renders c through a real Echo and checks the invariants.
func checkRandomCase(e *echo.Echo, c randomCase) error {
	req := httptest.NewRequest(c.Method, "/any", nil)
	req = req.WithContext(context.WithValue(req.Context(), errKey{}, c.Err))
	if c.Accept != "" {
		req.Header.Set(echo.HeaderAccept, c.Accept)
	}
	if c.RequestID != "" {
		req.Header[errorsx.HeaderRequestID] = []string{c.RequestID}
	}
	if c.Auth {
		req.Header.Set(echo.HeaderAuthorization, "Bearer sk_x")
	}
	rec := serve(e, req)

	want := echo4.FromEcho(c.Err)
	row := want.Row()
	if rec.Code != row.Status {
		return fmt.Errorf("got status %d, want %d (%s)", rec.Code, row.Status, row.Code)
	}
	if _, ok := errorsx.Lookup(row.Code); !ok {
		return fmt.Errorf("From gave off-table code %q", row.Code)
	}
	h := rec.Header()
	if got := h.Get(errorsx.HeaderShouldRetry); got != strconv.FormatBool(row.Retryable) {
		return fmt.Errorf("got X-Should-Retry %q for %s", got, row.Code)
	}
	id := h.Get(errorsx.HeaderRequestID)
	if errorsx.ValidRequestID(c.RequestID) {
		if id != c.RequestID {
			return fmt.Errorf("got X-Request-Id %q, want the sane incoming %q", id, c.RequestID)
		}
	} else if _, err := uuid.Parse(id); err != nil {
		return fmt.Errorf("got X-Request-Id %q, want a new UUID", id)
	}
	if h.Get(errorsx.HeaderRequestIDStripe) != id {
		return fmt.Errorf("got Request-Id %q, want %q", h.Get(errorsx.HeaderRequestIDStripe), id)
	}
	if ra := h.Get(errorsx.HeaderRetryAfter); ra != "" {
		n, err := strconv.ParseInt(ra, 10, 64)
		if err != nil || n < 1 || !row.Retryable {
			return fmt.Errorf("got Retry-After %q on %s", ra, row.Code)
		}
	} else if row.Code == errorsx.CodeRateLimitExceeded {
		return errors.New("429 without Retry-After")
	}
	if (h.Get(errorsx.HeaderWWWAuthenticate) != "") != (row.Status == http.StatusUnauthorized) {
		return fmt.Errorf("got WWW-Authenticate %q on %d", h.Get(errorsx.HeaderWWWAuthenticate), row.Status)
	}
	if c.Method == http.MethodHead {
		if rec.Body.Len() != 0 {
			return fmt.Errorf("HEAD got body %q", rec.Body)
		}
		return nil
	}
	wantMsg := string([]rune(want.Message())) // invalid UTF-8 → U+FFFD per byte, as in JSON
	wantParam := string([]rune(want.Param()))
	if h.Get(echo.HeaderContentType) == errorsx.ContentTypeProblem {
		p, err := checkProblem(rec.Body.Bytes())
		if err != nil {
			return err
		}
		if p.Status != row.Status || p.Code != string(row.Code) || p.Title != row.Title || p.Detail != wantMsg || p.Param != wantParam {
			return fmt.Errorf("got problem %+v for %s %q %q", p, row.Code, wantMsg, wantParam)
		}
		return nil
	}
	env, _, err := checkRow(rec)
	if err != nil {
		return err
	}
	if env.Code != string(row.Code) || env.Message != wantMsg || env.Param != wantParam {
		return fmt.Errorf("got %+v, want code %s message %q param %q", env, row.Code, wantMsg, wantParam)
	}
	return nil
}

// Random errors (random kinds, wrapped several deep, echo.HTTPError with any
// status and odd messages, *errorsx.Error with random parts, typed nils and
// panicking methods) always render as one of the eleven rows with a
// well-formed body and the row's headers.
func TestPropertyEveryErrorRendersARow(t *testing.T) {
	e := echo.New()
	e.HTTPErrorHandler = echo4.ErrorHandler(errorsx.HandlerConfig{
		Logger: discardLogger(), ProblemJSON: true,
	})
	e.Use(echo4.Use(guard.RequestID(guard.RequestIDConfig{SendRequestID: true})))
	e.Any("/any", func(c echo.Context) error {
		return c.Request().Context().Value(errKey{}).(error)
	})
	seed := time.Now().UnixNano()
	var last error
	prop := func(c randomCase) bool {
		last = checkRandomCase(e, c)
		if last != nil {
			last = fmt.Errorf("%w\nerror: %#v\ncase: %+v", last, c.Err, c)
		}
		return last == nil
	}
	cfg := &quick.Config{MaxCount: 3000, Rand: rand.New(rand.NewSource(seed))}
	if testing.Short() {
		cfg.MaxCount = 300
	}
	if err := quick.Check(prop, cfg); err != nil {
		t.Fatalf("seed %d: %v\n%v", seed, err, last)
	}
}
