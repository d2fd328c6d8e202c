package app

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/middleware"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// generation is the public record of one generation.
type generation struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	Model      string `json:"model"`
	Prompt     string `json:"prompt"`
	Duration   int    `json:"duration"`
	Resolution string `json:"resolution"`
	Cost       int64  `json:"cost"`
	Status     string `json:"status"`

	tenant string
}

// handlers holds the handlers' state.
type handlers struct {
	ledger *ledger
	// generate stands for the generation itself (Config.Generate, or a
	// wait of Config.WorkDelay).
	generate func(ctx context.Context, prompt string) error
}

// tenantOf returns the caller's tenant. The auth middleware runs before every
// /v1 route, so a missing principal is a wiring bug: fail closed.
func tenantOf(c echo.Context) (string, error) {
	p, ok := middleware.PrincipalFrom(c)
	if !ok {
		return "", errorsx.InvalidAPIKey()
	}
	return p.Tenant, nil
}

// pathParam returns the path parameter name, decoded. Echo v4 matches the
// path as sent (escaped) and hands parameters over undecoded, so
// /v1/models/clipia%2Dfast names clipia-fast only once decoded here; a
// parameter that does not decode names nothing (false), and the handler
// answers 404 as for any unknown id. (net/http itself answers a path with a
// bad escape, such as %zz, with a plain-text 400 before the app sees it.)
func pathParam(c echo.Context, name string) (string, bool) {
	v, err := url.PathUnescape(c.Param(name))
	return v, err == nil
}

func (h *handlers) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (h *handlers) listModels(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{"data": catalogue})
}

func (h *handlers) getModel(c echo.Context) error {
	id, ok := pathParam(c, "id")
	m, found := findModel(id)
	if !ok || !found {
		return errorsx.NotFound().WithMessage("No model with this id exists.")
	}
	return c.JSON(http.StatusOK, m)
}

func (h *handlers) balance(c echo.Context) error {
	tenant, err := tenantOf(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int64{"credits": h.ledger.balance(tenant)})
}

func (h *handlers) getGeneration(c echo.Context) error {
	tenant, err := tenantOf(c)
	if err != nil {
		return err
	}
	id, ok := pathParam(c, "id")
	g, found := h.ledger.generation(tenant, id)
	if !ok || !found {
		return errorsx.NotFound().WithMessage("No generation with this id exists.")
	}
	return c.JSON(http.StatusOK, g)
}

// createGeneration runs after auth, rate limit, scope, idempotency and
// validation: the request is well-formed and fits its model. What is left is
// the app's own business: credits (402), the model's state (503, 500), the
// work, and 201.
func (h *handlers) createGeneration(c echo.Context) error {
	tenant, err := tenantOf(c)
	if err != nil {
		return err
	}
	req := generationRequestFrom(c)
	m, _ := findModel(req.Model) // validation answered 404 for unknown models
	cost := int64(*req.Duration) * int64(m.PricePerSecond)
	if !h.ledger.reserve(tenant, cost) {
		return errorsx.InsufficientCredits()
	}
	charged := false
	defer func() {
		if !charged {
			h.ledger.refund(tenant, cost)
		}
	}()

	switch m.state {
	case stateMaintenance:
		return errorsx.ServiceUnavailable().
			WithMessage(m.ID + " is down for maintenance. Please retry shortly.").
			WithRetryAfter(time.Second)
	case stateFaulty:
		// The kind of error a real backend returns. The renderer logs it and
		// answers a sanitised 500; the address never reaches the client.
		return fmt.Errorf("render queue: dial tcp 10.20.30.40:5432 (db-primary.internal): connection refused")
	}

	if err := h.generate(c.Request().Context(), req.Prompt); err != nil {
		return err // client gone (or the work failed): refunded, and not stored by idempotency
	}
	g := generation{
		ID:         "gen_" + uuid.NewString(),
		Object:     "generation",
		Model:      m.ID,
		Prompt:     req.Prompt,
		Duration:   *req.Duration,
		Resolution: req.Resolution,
		Cost:       cost,
		Status:     "succeeded",
		tenant:     tenant,
	}
	h.ledger.record(g)
	charged = true
	c.Response().Header().Set(echo.HeaderLocation, "/v1/generations/"+g.ID)
	return c.JSON(http.StatusCreated, g)
}

// wait stands for the generation itself when Config.Generate is nil: it
// takes d, or ends early when the request is cancelled.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
