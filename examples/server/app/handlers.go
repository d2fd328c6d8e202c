package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/principal"
	"github.com/google/uuid"
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
	ledger ledger
	// generate stands for the generation itself (Config.Generate, or a
	// wait of Config.WorkDelay).
	generate func(ctx context.Context, prompt string) error
	// metrics serves GET /metrics.
	metrics http.Handler
	// doc is the OpenAPI document GET /openapi.json serves.
	doc []byte
}

// call is what a handler gets from the front door that routed the
// request: the request (its context carries the principal, and on POST
// /v1/generations the validated body: bind.Body) and a lookup of its path
// parameters, as sent (still percent-encoded; see pathParam). The handlers
// are written once; each front door (front_*.go) only fills a call and
// hands the returned error to its renderer.
type call struct {
	r     *http.Request
	param func(name string) string
}

// handlerFunc is a handler of the app, whatever the front door.
type handlerFunc func(w http.ResponseWriter, q call) error

// writeJSON answers status with v as JSON, the same bytes on every front
// door (Content-Type application/json, a trailing newline).
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}

// tenantOf returns the caller's tenant. The auth middleware runs before every
// /v1 route, so a missing principal is a wiring bug: fail closed.
func tenantOf(q call) (string, error) {
	p, ok := principal.FromContext(q.r.Context())
	if !ok {
		return "", errorsx.InvalidAPIKey()
	}
	return p.Tenant, nil
}

// pathParam returns the path parameter name, decoded. Every door reads a
// path the same way first (guard.CleanPath: /v1/models/clipia%2Dfast is
// /v1/models/clipia-fast), and the reserved characters that stay escaped
// (%2F) are decoded here: Echo and chi match the path as sent and hand
// parameters over undecoded; ServeMux and gin hand them over decoded, and
// their front doors pass them re-escaped, so that this one function serves
// every door. A parameter that does not decode names nothing (false), and
// the handler answers 404 as for any unknown id. (net/http itself answers a
// path with a bad escape, such as %zz, with a plain-text 400 before the app
// sees it.)
func pathParam(q call, name string) (string, bool) {
	v, err := url.PathUnescape(q.param(name))
	return v, err == nil
}

func (h *handlers) healthz(w http.ResponseWriter, _ call) error {
	return writeJSON(w, http.StatusOK, health{Status: "ok"})
}

func (h *handlers) serveMetrics(w http.ResponseWriter, q call) error {
	h.metrics.ServeHTTP(w, q.r)
	return nil
}

func (h *handlers) listModels(w http.ResponseWriter, _ call) error {
	return writeJSON(w, http.StatusOK, modelList{Data: catalogue})
}

func (h *handlers) getModel(w http.ResponseWriter, q call) error {
	id, ok := pathParam(q, "id")
	m, found := findModel(id)
	if !ok || !found {
		return errorsx.NotFound().WithMessage("No model with this id exists.")
	}
	return writeJSON(w, http.StatusOK, m)
}

func (h *handlers) balance(w http.ResponseWriter, q call) error {
	tenant, err := tenantOf(q)
	if err != nil {
		return err
	}
	credits, err := h.ledger.balance(q.r.Context(), tenant)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, balanceDoc{Credits: credits})
}

func (h *handlers) getGeneration(w http.ResponseWriter, q call) error {
	tenant, err := tenantOf(q)
	if err != nil {
		return err
	}
	id, ok := pathParam(q, "id")
	if !ok {
		return errorsx.NotFound().WithMessage("No generation with this id exists.")
	}
	g, found, err := h.ledger.generation(q.r.Context(), tenant, id)
	if err != nil {
		return err
	}
	if !found {
		return errorsx.NotFound().WithMessage("No generation with this id exists.")
	}
	return writeJSON(w, http.StatusOK, g)
}

// createGeneration runs after auth, rate limit, scope, idempotency and
// validation: the request is well-formed and fits its model. What is left is
// the app's own business: credits (402), the model's state (503, 500), the
// work, and 201.
func (h *handlers) createGeneration(w http.ResponseWriter, q call) error {
	tenant, err := tenantOf(q)
	if err != nil {
		return err
	}
	req := bind.Body[generationRequest](q.r)
	if req == nil {
		return errorsx.Internal().WithCause(errors.New("app: no bound body (wiring)"))
	}
	m, _ := findModel(req.Model) // validation answered 404 for unknown models
	cost := int64(*req.Duration) * int64(m.PricePerSecond)
	ctx := q.r.Context()
	if ok, err := h.ledger.hold(ctx, tenant, cost); err != nil {
		return err
	} else if !ok {
		return errorsx.InsufficientCredits()
	}
	charged := false
	defer func() {
		if !charged {
			h.ledger.release(context.WithoutCancel(ctx), tenant, cost)
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

	if err := h.generate(ctx, req.Prompt); err != nil {
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
	ok, err := h.ledger.charge(ctx, g)
	if err != nil {
		return err
	}
	if !ok {
		return errorsx.InsufficientCredits()
	}
	charged = true
	w.Header().Set("Location", "/v1/generations/"+g.ID)
	return writeJSON(w, http.StatusCreated, g)
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
