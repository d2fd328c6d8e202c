package echo5_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/echo5"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/guardtest"
	"github.com/clipia/apiguard/principal"
	"github.com/labstack/echo/v5"
	echomw "github.com/labstack/echo/v5/middleware"
)

// requestID sets a fresh X-Request-Id (the suite's request id).
func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		errorsx.RequestID(c.Response().Header(), c.Request())
		return next(c)
	}
}

// idemApp is the Echo v5 app of the guardtest suite.
func idemApp(t *testing.T, cfg idempotency.Config, h guardtest.Handler) http.Handler {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	idem, err := echo5.Idempotency(cfg)
	if err != nil {
		t.Fatalf("Idempotency: %v", err)
	}
	e := echo.New()
	e.HTTPErrorHandler = echo5.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	e.Use(requestID, echomw.Recover())
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			if tenant := c.Request().Header.Get("X-Test-Tenant"); tenant != "" {
				c.SetRequest(c.Request().WithContext(principal.NewContext(c.Request().Context(),
					&principal.Principal{KeyID: "key_" + tenant, Tenant: tenant})))
			}
			return next(c)
		}
	})
	e.Use(idem)
	handler := func(c *echo.Context) error { return h(c.Response(), c.Request()) }
	e.POST("/v1/generations", handler)
	e.POST("/v1/other", handler)
	e.GET("/v1/generations", handler)
	e.DELETE("/v1/generations", handler)
	return e
}

func TestIdempotencyBehaviour(t *testing.T) {
	guardtest.Run(t, idemApp, func(t *testing.T) idempotency.Store {
		s := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestIdempotencyRejectsBadConfig(t *testing.T) {
	if mw, err := echo5.Idempotency(idempotency.Config{Lease: -1}); err == nil || mw != nil {
		t.Fatalf("got (%v, %v), want an error", mw != nil, err)
	}
}

type countingClaims struct {
	idempotency.Store
	n atomic.Int32
}

func (s *countingClaims) Claim(ctx context.Context, key, fp string, lease time.Duration) (idempotency.ClaimResult, error) {
	s.n.Add(1)
	return s.Store.Claim(ctx, key, fp, lease)
}

// TestIdempotencyRouteAndUnknownRoute: the record key has the route
// pattern (c.Path()); an unknown route answers 404 and claims nothing.
func TestIdempotencyRouteAndUnknownRoute(t *testing.T) {
	store := &countingClaims{Store: idempotency.NewMemoryStore(idempotency.MemoryConfig{})}
	e := echo.New()
	e.HTTPErrorHandler = echo5.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	e.Use(echo5.Must(echo5.Idempotency(idempotency.Config{Store: store})))
	e.POST("/x/:id", func(c *echo.Context) error { return c.String(http.StatusCreated, "made "+c.Param("id")) })
	send := func(path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, path, nil)
		r.RemoteAddr = "192.0.2.1:1234"
		r.Header.Set(idempotency.HeaderIdempotencyKey, "k")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, r)
		return rec
	}
	if rec := send("/x/1"); rec.Code != 201 {
		t.Fatalf("first: got %d %s", rec.Code, rec.Body)
	}
	if _, ok, _ := store.Get(context.Background(), idempotency.RecordKey("ip:192.0.2.1", "POST", "/x/:id", "k")); !ok {
		t.Error("no record under the route pattern /x/:id")
	}
	if rec := send("/x/2"); rec.Code != 409 || !strings.Contains(rec.Body.String(), "idempotency_key_reuse") {
		t.Errorf("other path parameter: got %d %s, want 409 idempotency_key_reuse", rec.Code, rec.Body)
	}
	before := store.n.Load()
	if rec := send("/nope"); rec.Code != 404 || !strings.Contains(rec.Body.String(), `"not_found"`) {
		t.Errorf("unknown route: got %d %s, want 404 not_found", rec.Code, rec.Body)
	}
	if store.n.Load() != before {
		t.Error("an unknown route claimed a key")
	}
}
