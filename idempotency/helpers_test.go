package idempotency_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/redisstore"
	"github.com/clipia/apiguard/internal/redistest"
	"github.com/clipia/apiguard/middleware"
	"github.com/clipia/apiguard/principal"
	"github.com/labstack/echo/v4"
)

// storeKinds are the stores every middleware behaviour runs against.
var storeKinds = []struct {
	name string
	new  func(t *testing.T) idempotency.Store
}{
	{"memory", func(t *testing.T) idempotency.Store {
		return newMemoryStore(t, idempotency.MemoryConfig{})
	}},
	{"redis", func(t *testing.T) idempotency.Store {
		s, err := redisstore.New(redistest.Client(t), redisstore.Config{Prefix: redistest.Prefix(t)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
}

// logBuffer collects log records for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newEcho returns an Echo app wired like the reference server: the
// renderer, request id, recover, a test auth that takes the tenant from
// X-Test-Tenant, then the idempotency middleware, and handler on
// POST /v1/generations, POST /v1/other and GET /v1/generations.
func newEcho(t *testing.T, cfg idempotency.Config, handler echo.HandlerFunc) *echo.Echo {
	t.Helper()
	logs := &logBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = logs.logger()
	}
	mw, err := idempotency.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: logs.logger()})
	e.Use(middleware.Must(middleware.RequestID(middleware.RequestIDConfig{})), middleware.Must(middleware.Recover(middleware.RecoverConfig{})))
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if tenant := c.Request().Header.Get("X-Test-Tenant"); tenant != "" {
				middleware.SetPrincipal(c, &principal.Principal{KeyID: "key_" + tenant, Tenant: tenant})
			}
			return next(c)
		}
	})
	e.Use(mw)
	e.POST("/v1/generations", handler)
	e.POST("/v1/other", handler)
	e.GET("/v1/generations", handler)
	e.DELETE("/v1/generations", handler)
	return e
}

type req struct {
	method  string // default POST
	path    string // default /v1/generations
	key     string // Idempotency-Key; "" sends none
	body    string
	tenant  string
	headers map[string]string
	ctx     context.Context
}

func do(e *echo.Echo, r req) *httptest.ResponseRecorder {
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.path == "" {
		r.path = "/v1/generations"
	}
	var body io.Reader = http.NoBody
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequest(r.method, r.path, body)
	if r.ctx != nil {
		hr = hr.WithContext(r.ctx)
	}
	if r.body != "" {
		hr.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	}
	if r.key != "" {
		hr.Header.Set(idempotency.HeaderIdempotencyKey, r.key)
	}
	if r.tenant != "" {
		hr.Header.Set("X-Test-Tenant", r.tenant)
	}
	for k, v := range r.headers {
		hr.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, hr)
	return rec
}

// errorCode returns the envelope's code, or "" for a non-error body.
func errorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var env struct {
		Error struct {
			Code  string `json:"code"`
			Param string `json:"param"`
		} `json:"error"`
	}
	if rec.Code < 400 {
		return ""
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("error body %q is not the envelope: %v", rec.Body.String(), err)
	}
	return env.Error.Code
}

func errorParam(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var env struct {
		Error struct {
			Param string `json:"param"`
		} `json:"error"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &env)
	return env.Error.Param
}
