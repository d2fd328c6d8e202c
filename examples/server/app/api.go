package app

import (
	"net/http"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/openapi"
)

// openAPIPath is where the app serves its OpenAPI document, without a key.
const openAPIPath = "/openapi.json"

// Response bodies, for the document (the handlers write the same JSON).
type (
	health struct {
		Status string `json:"status"`
	}
	modelList struct {
		Data []model `json:"data"`
	}
	balanceDoc struct {
		Credits int64 `json:"credits"`
	}
)

// api is the app's route table: every route the front doors (front_*.go)
// mount, with the guard lists of stack they mount on it and what only its
// handler answers. The OpenAPI document is built from it (openapi.API.JSON),
// and New checks it against the routes the door serves (openapi.API.Check),
// so a route mounted but not listed here, or listed but not mounted, stops
// the app at start. /healthz, /metrics and /openapi.json are documented
// too: they are routes every client can call. HEAD is not listed: every
// door answers it wherever it answers GET, as GET without the body.
//
// ledgerFails says the credits ledger can fail (PostgreSQL): the routes
// that read it then answer 503 service_unavailable too.
func (st *stack) api(ledgerFails bool) *openapi.API {
	var ledger []errorsx.Code
	if ledgerFails {
		ledger = []errorsx.Code{errorsx.CodeServiceUnavailable}
	}
	g := openapi.Guards[guard.Guard]
	return &openapi.API{
		Title:   "Clipia reference API",
		Version: "1.0.0",
		Description: "The reference server of apiguard: a small video generation API. Every error is one JSON " +
			"envelope of one of eleven (status, code) rows; clients whose Accept prefers application/problem+json " +
			"get RFC 9457 problem details instead. Every GET route also answers HEAD, without the body.",
		Errors: st.errors,
		Guards: g(st.request),
		Routes: []openapi.Route{
			{Method: http.MethodGet, Path: "/healthz", ID: "health", Summary: "Health check", Tags: []string{"service"},
				Guards: g(st.open), Responses: []openapi.Response{openapi.JSON(200, "The server is up.", health{})}},
			{Method: http.MethodGet, Path: metricsPath, ID: "metrics", Summary: "Prometheus metrics", Tags: []string{"service"},
				Guards: g(st.open), Responses: []openapi.Response{{Status: 200, Description: "The metrics, in the Prometheus text format.", ContentType: "text/plain"}}},
			{Method: http.MethodGet, Path: openAPIPath, ID: "openapi", Summary: "This document", Tags: []string{"service"},
				Guards: g(st.open), Responses: []openapi.Response{{Status: 200, Description: "The OpenAPI 3.1 document of the API.", ContentType: "application/json", Schema: &openapi.Schema{Type: "object"}}}},

			{Method: http.MethodGet, Path: "/v1/models", ID: "listModels", Summary: "List the models", Tags: []string{"models"},
				Guards: g(st.v1, st.modelsRead), Responses: []openapi.Response{openapi.JSON(200, "Every model.", modelList{})}},
			{Method: http.MethodGet, Path: "/v1/models/{id}", ID: "getModel", Summary: "Get a model", Tags: []string{"models"},
				Guards: g(st.v1, st.modelsRead), Responses: []openapi.Response{openapi.JSON(200, "The model.", model{})},
				Errors: []errorsx.Code{errorsx.CodeNotFound}},
			{Method: http.MethodPost, Path: "/v1/generations", ID: "createGeneration", Summary: "Create a generation", Tags: []string{"generations"},
				Description: "Runs a generation and charges its cost (duration × the model's price per second) to the tenant's credits when it succeeds; a replayed response never charges again.",
				Guards:      g(st.v1, st.createGeneration), Responses: []openapi.Response{openapi.JSON(201, "The generation, succeeded.", generation{})},
				Errors: []errorsx.Code{errorsx.CodeInsufficientCredits, errorsx.CodeServiceUnavailable, errorsx.CodeInternal}},
			{Method: http.MethodGet, Path: "/v1/generations/{id}", ID: "getGeneration", Summary: "Get a generation", Tags: []string{"generations"},
				Guards: g(st.v1, st.generationsRead), Responses: []openapi.Response{openapi.JSON(200, "The generation.", generation{})},
				Errors: append([]errorsx.Code{errorsx.CodeNotFound}, ledger...)},
			{Method: http.MethodGet, Path: "/v1/balance", ID: "getBalance", Summary: "The tenant's credits", Tags: []string{"generations"},
				Guards: g(st.v1, st.generationsRead), Responses: []openapi.Response{openapi.JSON(200, "The credits left.", balanceDoc{})},
				Errors: ledger},
		},
	}
}

// openAPI serves the document built by New.
func (h *handlers) openAPI(w http.ResponseWriter, _ call) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(h.doc)
	return err
}
