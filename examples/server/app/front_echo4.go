package app

import (
	"log/slog"
	"time"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/middleware"
	"github.com/labstack/echo/v4"
)

// frontEcho4 serves the app with Echo v4 (package middleware).
func frontEcho4(g guards, h *handlers) (*echo.Echo, error) {
	g, m, err := withMetrics(g)
	if err != nil {
		return nil, err
	}
	head, err := middleware.Head(middleware.HeadConfig{})
	if err != nil {
		return nil, err
	}
	requestID, err := middleware.RequestID(middleware.RequestIDConfig{SendRequestID: true})
	if err != nil {
		return nil, err
	}
	recoverMW, err := middleware.Recover(middleware.RecoverConfig{})
	if err != nil {
		return nil, err
	}
	headerLimit, err := middleware.HeaderLimit(middleware.HeaderLimitConfig{})
	if err != nil {
		return nil, err
	}
	authMW, err := middleware.Auth(g.auth)
	if err != nil {
		return nil, err
	}
	limit, err := middleware.RateLimit(g.limit)
	if err != nil {
		return nil, err
	}
	idem, err := middleware.Idempotency(g.idempotency)
	if err != nil {
		return nil, err
	}
	bindMW, err := middleware.Bind[generationRequest](g.bind)
	if err != nil {
		return nil, err
	}
	// POST /v1/generations: at most -max-in-flight per tenant, checked
	// after the rate limit and before the scope.
	generationGuards := []echo.MiddlewareFunc{}
	if g.inFlight != nil {
		inFlight, err := middleware.ConcurrencyLimit(*g.inFlight)
		if err != nil {
			return nil, err
		}
		generationGuards = append(generationGuards, inFlight)
	}
	scopes := make(map[string]echo.MiddlewareFunc, len(routeScopes))
	for _, sc := range routeScopes {
		if scopes[sc], err = middleware.Scopes(auth.ScopeConfig{All: []string{sc}, Telemetry: m.telemetry()}); err != nil {
			return nil, err
		}
	}
	// handle adapts a handler of the app: the call carries Echo's path
	// parameters and the body bound by middleware.Bind.
	handle := func(fn handlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			return fn(c.Response(), call{r: c.Request(), param: c.Param, body: middleware.Body[generationRequest](c)})
		}
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = middleware.ErrorHandler(g.errors)
	// HEAD is answered wherever GET is, through the same guards.
	e.Pre(head)
	e.Use(requestID, requestLogEcho4(g.logger), recoverMW)
	// Headers over 16 KiB answer 400 in the envelope, unknown route or not;
	// net/http's own limit (maxHeaderBytes, 1 MiB) stays far above.
	e.Use(headerLimit)

	e.GET("/healthz", handle(h.healthz))
	e.GET(metricsPath, echo.WrapHandler(m.handler))
	// Auth and the limiter on the group, as most Echo apps wire them: an
	// unknown path under /v1 still answers 404 with no key and no token
	// spent, since every guard answers an unmatched route 404 first.
	v1 := e.Group("/v1", authMW, limit)
	v1.GET("/models", handle(h.listModels), scopes[scopeModelsRead])
	v1.GET("/models/:id", handle(h.getModel), scopes[scopeModelsRead])
	v1.POST("/generations", handle(h.createGeneration), append(generationGuards, scopes[scopeGenerationsWrite], idem, bindMW)...)
	v1.GET("/generations/:id", handle(h.getGeneration), scopes[scopeGenerationsRead])
	v1.GET("/balance", handle(h.balance), scopes[scopeGenerationsRead])
	return e, nil
}

// requestLogEcho4 logs one line per request (see logRequest).
func requestLogEcho4(logger *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			status := c.Response().Status
			if err != nil && !c.Response().Committed {
				status = middleware.FromEcho(err).Status()
			}
			logRequest(logger, c.Request(), c.Response().Header(), c.Path(), status, start)
			return err
		}
	}
}
