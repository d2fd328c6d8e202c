package client_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/middleware/echo4"
	"github.com/labstack/echo/v4"
)

// hit is one request as the test server saw it.
type hit struct {
	method string
	key    string // Idempotency-Key
	body   string
}

// api is an Echo app with the real renderer. GET, HEAD and POST /rows/:code
// return errorsx.New(code), with the message, param and Retry-After wait
// given in the query (?message=…&param=…&wait=1500ms); ?ok_after=N answers
// 201 from the N+1-th hit on. Every request is recorded per code.
type api struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits map[string][]hit
}

func newAPI(t testing.TB, cfg errorsx.HandlerConfig) *api {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &api{hits: map[string][]hit{}}
	e := echo.New()
	e.HTTPErrorHandler = echo4.ErrorHandler(cfg)
	h := func(c echo.Context) error {
		// As guard.RequestID with SendRequestID does.
		c.Response().Header().Set(errorsx.HeaderRequestIDStripe, errorsx.RequestID(c.Response().Header(), c.Request()))
		code := c.Param("code")
		body, _ := io.ReadAll(c.Request().Body)
		a.mu.Lock()
		a.hits[code] = append(a.hits[code], hit{
			method: c.Request().Method,
			key:    c.Request().Header.Get("Idempotency-Key"),
			body:   string(body),
		})
		n := len(a.hits[code])
		a.mu.Unlock()
		if okAfter := c.QueryParam("ok_after"); okAfter != "" && n > atoi(okAfter) {
			return c.JSON(http.StatusCreated, map[string]any{"id": "gen_1", "attempt": n})
		}
		err := errorsx.New(errorsx.Code(code))
		if m := c.QueryParam("message"); m != "" {
			err = err.WithMessage(m)
		}
		if p := c.QueryParam("param"); p != "" {
			err = err.WithParam(p)
		}
		if w := c.QueryParam("wait"); w != "" {
			d, perr := time.ParseDuration(w)
			if perr != nil {
				return perr
			}
			err = err.WithRetryAfter(d)
		}
		return err
	}
	e.GET("/rows/:code", h)
	e.HEAD("/rows/:code", h)
	e.POST("/rows/:code", h)
	e.PUT("/rows/:code", h)
	a.srv = httptest.NewServer(e)
	t.Cleanup(a.srv.Close)
	return a
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func (a *api) url(code errorsx.Code, query string) string {
	u := a.srv.URL + "/rows/" + string(code)
	if query != "" {
		u += "?" + query
	}
	return u
}

func (a *api) hitsOf(code errorsx.Code) []hit {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]hit(nil), a.hits[string(code)]...)
}

// sleeps records the waits a Transport asks for, without waiting.
type sleeps struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// maxRand makes the jitter pick the top of its range, so waits are exact.
func maxRand(n int64) int64 { return n - 1 }

// roundTripFunc is a base transport made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// stubResponse builds a response as a base transport would return it.
func stubResponse(req *http.Request, status int, header http.Header, body string) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{
		Status:        http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}
