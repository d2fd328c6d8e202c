package app

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/echo5"
	"github.com/labstack/echo/v5"
)

// frontEcho5 serves the app with Echo v5 (package echo5): the same wiring
// as frontEcho4, in Echo v5's types.
func frontEcho5(g guards, h *handlers) (*echo.Echo, error) {
	g, m, err := withMetrics(g)
	if err != nil {
		return nil, err
	}
	head, err := echo5.Head(echo5.HeadConfig{})
	if err != nil {
		return nil, err
	}
	requestID, err := echo5.RequestID(echo5.RequestIDConfig{SendRequestID: true})
	if err != nil {
		return nil, err
	}
	recoverMW, err := echo5.Recover(echo5.RecoverConfig{})
	if err != nil {
		return nil, err
	}
	headerLimit, err := echo5.HeaderLimit(echo5.HeaderLimitConfig{})
	if err != nil {
		return nil, err
	}
	authMW, err := echo5.Auth(g.auth)
	if err != nil {
		return nil, err
	}
	limit, err := echo5.RateLimit(g.limit)
	if err != nil {
		return nil, err
	}
	idem, err := echo5.Idempotency(g.idempotency)
	if err != nil {
		return nil, err
	}
	bindMW, err := echo5.Bind[generationRequest](g.bind)
	if err != nil {
		return nil, err
	}
	// POST /v1/generations: at most -max-in-flight per tenant, checked
	// after the rate limit and before the scope.
	generationGuards := []echo.MiddlewareFunc{}
	if g.inFlight != nil {
		inFlight, err := echo5.ConcurrencyLimit(*g.inFlight)
		if err != nil {
			return nil, err
		}
		generationGuards = append(generationGuards, inFlight)
	}
	scopes := make(map[string]echo.MiddlewareFunc, len(routeScopes))
	for _, sc := range routeScopes {
		if scopes[sc], err = echo5.Scopes(auth.ScopeConfig{All: []string{sc}, Telemetry: m.telemetry()}); err != nil {
			return nil, err
		}
	}
	handle := func(fn handlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			return fn(c.Response(), call{r: c.Request(), param: c.Param, body: echo5.Body[generationRequest](c)})
		}
	}

	e := echo.New()
	e.HTTPErrorHandler = echo5.ErrorHandler(g.errors)
	e.Pre(head)
	e.Use(requestID, requestLogEcho5(g.logger), recoverMW)
	e.Use(headerLimit)

	e.GET("/healthz", handle(h.healthz))
	e.GET(metricsPath, echo.WrapHandler(m.handler))
	v1 := e.Group("/v1", authMW, limit)
	v1.GET("/models", handle(h.listModels), scopes[scopeModelsRead])
	v1.GET("/models/:id", handle(h.getModel), scopes[scopeModelsRead])
	v1.POST("/generations", handle(h.createGeneration), append(generationGuards, scopes[scopeGenerationsWrite], idem, bindMW)...)
	v1.GET("/generations/:id", handle(h.getGeneration), scopes[scopeGenerationsRead])
	v1.GET("/balance", handle(h.balance), scopes[scopeGenerationsRead])
	return e, nil
}

// requestLogEcho5 logs one line per request (see logRequest).
func requestLogEcho5(logger *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			start := time.Now()
			err := next(c)
			status := http.StatusOK
			committed := false
			if res, uerr := echo.UnwrapResponse(c.Response()); uerr == nil {
				status, committed = res.Status, res.Committed
			}
			if err != nil && !committed {
				status = echo5.FromEcho(err).Status()
			}
			logRequest(logger, c.Request(), c.Response().Header(), c.Path(), status, start)
			return err
		}
	}
}
