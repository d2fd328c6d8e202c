package load

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/examples/server/app"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/go-playground/validator/v10"
	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	echov5 "github.com/labstack/echo/v5"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// Stack names one of the compared server stacks. All serve the same two
// routes with the same handler work (GET /v1/models: a JSON list; POST
// /v1/generations: bind and validate the JSON body, check the model, price
// it, answer 201 with a JSON generation), so that mostly the middlewares
// differ. Apiguard is the reference server's app, which also keeps a
// ledger of credits and serves its other routes.
type Stack int

const (
	// Bare is a bare Echo v4 instance: the handler binds and validates
	// itself (c.Bind, go-playground validator), no middleware.
	Bare Stack = iota
	// EchoMiddlewares adds Echo's own RequestID, Recover, KeyAuth (a map of
	// keys) and RateLimiter (its memory store, keyed by the API key).
	EchoMiddlewares
	// Apiguard is the reference server's app itself, built in this process
	// by examples/server/app.New: request id, request log, recover, header
	// limit, auth, rate limit, scopes, idempotency, validation (Bind with
	// the model registry), errorsx renderer, and its own handlers (credits
	// without limit), on the front door of StackConfig.Framework. Its
	// stores come from StackConfig.
	Apiguard
	// BareEcho5 is Bare on Echo v5: a bare Echo v5 instance whose handler
	// binds and validates itself (c.Bind, go-playground validator).
	BareEcho5
	// BareNetHTTP is Bare on net/http: a bare http.ServeMux whose handler
	// decodes with encoding/json and validates with go-playground
	// validator.
	BareNetHTTP
)

// The front doors of StackConfig.Framework (the reference server's
// -framework values).
const (
	FrameworkEcho4   = app.FrameworkEcho4
	FrameworkEcho5   = app.FrameworkEcho5
	FrameworkNetHTTP = app.FrameworkNetHTTP
)

// Frameworks are the front doors, in the order the tables list them.
var Frameworks = []string{FrameworkEcho4, FrameworkEcho5, FrameworkNetHTTP}

// BareStack returns the bare stack of a front door: Bare (Echo v4),
// BareEcho5 or BareNetHTTP.
func BareStack(framework string) Stack {
	switch framework {
	case FrameworkEcho5:
		return BareEcho5
	case FrameworkNetHTTP:
		return BareNetHTTP
	}
	return Bare
}

// StackConfig configures NewStack.
type StackConfig struct {
	Stack Stack
	// Framework is Apiguard's front door: FrameworkEcho4 (also when
	// empty), FrameworkEcho5 or FrameworkNetHTTP. The other stacks name
	// their framework themselves.
	Framework string
	// RateStore and IdemStore are Apiguard's stores; nil means memory
	// stores that are never closed.
	RateStore ratelimit.Store
	IdemStore idempotency.Store
	// Rate and Burst are the per-key limit of EchoMiddlewares and
	// Apiguard. Zero means so high that nothing is limited.
	Rate, Burst int64
	// FailClosed makes Apiguard's rate limiter answer 503 when its store
	// cannot decide; the default fails open, like the reference server.
	FailClosed bool
	// Lease is the idempotency lease (Apiguard). Zero means 30 s.
	Lease time.Duration
	// Work is how long a generation takes in the handler. Zero: none.
	Work time.Duration
	// OnGenerate, when set, is called once per generation the handler
	// runs (after Work), with the request's prompt.
	OnGenerate func(prompt string)
	// Logger receives the middlewares' logs (Apiguard: the app's, a line
	// per request included). Nil discards them.
	Logger *slog.Logger
}

// GenRequest is the body of POST /v1/generations.
type GenRequest struct {
	Model      string `json:"model" validate:"required"`
	Prompt     string `json:"prompt" validate:"required,min=1,max=4000"`
	Duration   *int   `json:"duration" validate:"omitempty,min=1"`
	Resolution string `json:"resolution"`
}

type genModel struct {
	ID             string   `json:"id"`
	MaxDuration    int      `json:"max_duration"`
	Resolutions    []string `json:"resolutions"`
	PricePerSecond int      `json:"price_per_second"`
}

var genModels = []genModel{
	{ID: "clipia-fast", MaxDuration: 10, Resolutions: []string{"480p", "720p"}, PricePerSecond: 1},
	{ID: "clipia-pro", MaxDuration: 60, Resolutions: []string{"720p", "1080p", "4k"}, PricePerSecond: 5},
}

type generation struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	Model      string `json:"model"`
	Prompt     string `json:"prompt"`
	Duration   int    `json:"duration"`
	Resolution string `json:"resolution"`
	Cost       int64  `json:"cost"`
	Status     string `json:"status"`
}

// demo keys, as the reference server's.
var stackKeys = map[string]struct{ id, tenant string }{
	"sk_test_full":     {"key_full", "acme"},
	"sk_test_other":    {"key_other", "globex"},
	"sk_test_readonly": {"key_readonly", "acme"},
}

type handlers struct {
	seq        atomic.Int64
	work       time.Duration
	onGenerate func(string)
}

// modelList is the body of GET /v1/models.
func modelList() any { return map[string]any{"data": genModels} }

func findGenModel(id string) (genModel, bool) {
	for _, m := range genModels {
		if m.ID == id {
			return m, true
		}
	}
	return genModel{}, false
}

// checkGen is the bare stacks' check of a bound, valid body: the model
// exists, the defaults are filled in, the duration and resolution are the
// model's. It returns the model, or the error's status and message.
func checkGen(req *GenRequest) (genModel, int, string) {
	m, ok := findGenModel(req.Model)
	if !ok {
		return m, http.StatusNotFound, "unknown model"
	}
	if req.Duration == nil {
		d := 5
		req.Duration = &d
	}
	if req.Resolution == "" {
		req.Resolution = m.Resolutions[0]
	}
	if *req.Duration > m.MaxDuration {
		return m, http.StatusUnprocessableEntity, "duration too long"
	}
	ok = false
	for _, r := range m.Resolutions {
		ok = ok || r == req.Resolution
	}
	if !ok {
		return m, http.StatusUnprocessableEntity, "resolution"
	}
	return m, 0, ""
}

// run is the handler work after the body is bound, valid and checked: it
// returns the generation to answer 201 with (its Location is
// "/v1/generations/" + its ID).
func (h *handlers) run(ctx context.Context, req *GenRequest, m genModel) (generation, error) {
	if err := h.wait(ctx); err != nil {
		return generation{}, err
	}
	if h.onGenerate != nil {
		h.onGenerate(req.Prompt)
	}
	return generation{
		ID: "gen_" + itoa(h.seq.Add(1)), Object: "generation", Model: m.ID, Prompt: req.Prompt,
		Duration: *req.Duration, Resolution: req.Resolution,
		Cost: int64(*req.Duration) * int64(m.PricePerSecond), Status: "succeeded",
	}, nil
}

// wait stands for the generation's work: it takes h.work, or ends early
// when ctx is done.
func (h *handlers) wait(ctx context.Context) error {
	if h.work <= 0 {
		return nil
	}
	t := time.NewTimer(h.work)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// NewStack builds the handler of cfg.Stack. Its stores are not closed by
// it: the caller owns them.
func NewStack(cfg StackConfig) (http.Handler, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	rateN, burst := cfg.Rate, cfg.Burst
	if rateN == 0 {
		rateN, burst = 1_000_000_000, 1_000_000_000
	}
	h := &handlers{work: cfg.Work, onGenerate: cfg.OnGenerate}
	if cfg.Stack == Apiguard {
		return newApp(cfg, h, logger, rateN, burst)
	}

	switch cfg.Stack {
	case BareEcho5:
		return newBareEcho5(h), nil
	case BareNetHTTP:
		return newBareNetHTTP(h), nil
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(io.Discard)
	v := validator.New()
	gen := func(c echo.Context) error {
		var req GenRequest
		if err := c.Bind(&req); err != nil {
			return err
		}
		if err := v.Struct(&req); err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, err.Error())
		}
		m, status, msg := checkGen(&req)
		if status != 0 {
			return echo.NewHTTPError(status, msg)
		}
		g, err := h.run(c.Request().Context(), &req, m)
		if err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderLocation, "/v1/generations/"+g.ID)
		return c.JSON(http.StatusCreated, g)
	}
	var mws []echo.MiddlewareFunc
	if cfg.Stack == EchoMiddlewares {
		mws = []echo.MiddlewareFunc{
			echomw.KeyAuth(func(key string, c echo.Context) (bool, error) {
				_, ok := stackKeys[key]
				return ok, nil
			}),
			echomw.RateLimiterWithConfig(echomw.RateLimiterConfig{
				Store: echomw.NewRateLimiterMemoryStoreWithConfig(echomw.RateLimiterMemoryStoreConfig{
					Rate: rate.Limit(rateN), Burst: int(burst), ExpiresIn: 3 * time.Minute,
				}),
				IdentifierExtractor: func(c echo.Context) (string, error) {
					return c.Request().Header.Get(echo.HeaderAuthorization), nil
				},
			}),
		}
		e.Use(echomw.RequestID(), echomw.Recover())
	}
	v1 := e.Group("/v1", mws...)
	v1.GET("/models", func(c echo.Context) error { return c.JSON(http.StatusOK, modelList()) })
	v1.POST("/generations", gen)
	return e, nil
}

// newBareEcho5 is BareEcho5: Bare in Echo v5's types.
func newBareEcho5(h *handlers) http.Handler {
	e := echov5.New()
	v := validator.New()
	e.GET("/v1/models", func(c *echov5.Context) error { return c.JSON(http.StatusOK, modelList()) })
	e.POST("/v1/generations", func(c *echov5.Context) error {
		var req GenRequest
		if err := c.Bind(&req); err != nil {
			return err
		}
		if err := v.Struct(&req); err != nil {
			return echov5.NewHTTPError(http.StatusBadRequest, err.Error())
		}
		m, status, msg := checkGen(&req)
		if status != 0 {
			return echov5.NewHTTPError(status, msg)
		}
		g, err := h.run(c.Request().Context(), &req, m)
		if err != nil {
			return err
		}
		c.Response().Header().Set(echov5.HeaderLocation, "/v1/generations/"+g.ID)
		return c.JSON(http.StatusCreated, g)
	})
	return e
}

// newBareNetHTTP is BareNetHTTP: Bare on a ServeMux, with encoding/json
// and plain-text errors (http.Error).
func newBareNetHTTP(h *handlers) http.Handler {
	v := validator.New()
	writeJSON := func(w http.ResponseWriter, status int, body any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, modelList())
	})
	mux.HandleFunc("POST /v1/generations", func(w http.ResponseWriter, r *http.Request) {
		var req GenRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "malformed JSON", http.StatusBadRequest)
			return
		}
		if err := v.Struct(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		m, status, msg := checkGen(&req)
		if status != 0 {
			http.Error(w, msg, status)
			return
		}
		g, err := h.run(r.Context(), &req, m)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Location", "/v1/generations/"+g.ID)
		writeJSON(w, http.StatusCreated, g)
	})
	return mux
}

// newApp builds the Apiguard stack: the reference server's app itself
// (examples/server/app), on cfg's stores, with the flags' defaults
// otherwise. h provides the handler work of cfg.Work and cfg.OnGenerate.
func newApp(cfg StackConfig, h *handlers, logger *slog.Logger, rateN, burst int64) (http.Handler, error) {
	acfg, err := app.ParseConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		return nil, err
	}
	acfg.Rate, acfg.Burst = float64(rateN), int(burst)
	acfg.Credits = math.MaxInt64 // never 402: the stacks compare guards, not the ledger
	acfg.WorkDelay = cfg.Work
	if cfg.Lease > 0 {
		acfg.LockTTL = cfg.Lease
	}
	acfg.RateLimitStore, acfg.IdempotencyStore = cfg.RateStore, cfg.IdemStore
	acfg.RateLimitFailClosed = cfg.FailClosed
	acfg.Framework = cfg.Framework
	if h.onGenerate != nil {
		acfg.Generate = func(ctx context.Context, prompt string) error {
			if err := h.wait(ctx); err != nil {
				return err
			}
			h.onGenerate(prompt)
			return nil
		}
	}
	a, err := app.New(context.Background(), acfg, logger)
	if err != nil {
		return nil, err
	}
	// a is never closed: its stores are cfg's (the caller closes them) or,
	// when nil, memory stores that live as long as the test binary.
	return a.Handler(), nil
}

// Serve serves h over real HTTP on loopback until tb ends and returns its
// base URL.
func Serve(tb testing.TB, h http.Handler) string {
	tb.Helper()
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv.URL
}

// RoundTrips is a go-redis hook counting round trips to Redis: one per
// command sent alone, one per pipeline.
type RoundTrips struct {
	n    atomic.Int64
	cmds atomic.Int64
}

// Count returns the round trips and commands seen so far.
func (r *RoundTrips) Count() (trips, cmds int64) { return r.n.Load(), r.cmds.Load() }

// DialHook implements redis.Hook.
func (r *RoundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (r *RoundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.n.Add(1)
		r.cmds.Add(1)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook.
func (r *RoundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.n.Add(1)
		r.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// GenBody returns a valid generation body with the given prompt.
func GenBody(prompt string, duration int) []byte {
	b, _ := json.Marshal(map[string]any{"model": "clipia-fast", "prompt": prompt, "duration": duration})
	return b
}

// Cost returns the cost of a 201 generation body, or 0.
func Cost(body []byte) int64 {
	var g struct {
		Cost int64 `json:"cost"`
	}
	_ = json.Unmarshal(body, &g)
	return g.Cost
}

// GenID returns the id of a generation body.
func GenID(body []byte) string {
	var g struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(body, &g)
	return g.ID
}
