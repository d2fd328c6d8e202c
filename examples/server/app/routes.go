package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/idempotency"
	idemredis "github.com/clipia/apiguard/idempotency/redisstore"
	"github.com/clipia/apiguard/openapi"
	"github.com/clipia/apiguard/ratelimit"
	rlredis "github.com/clipia/apiguard/ratelimit/redisstore"
	"github.com/redis/go-redis/v9"
)

// generationRequest is the body of POST /v1/generations.
type generationRequest struct {
	Model      string `json:"model" validate:"required"`
	Prompt     string `json:"prompt" validate:"required,min=1,max=4000"`
	Duration   *int   `json:"duration" validate:"omitempty,min=1"`
	Resolution string `json:"resolution"`
}

// ModelID names the model whose rules apply (bind.ModelRequest).
func (r *generationRequest) ModelID() string { return r.Model }

// App is the wired application: the reference server's routes behind
// every apiguard guard, on its stores. Build it with New; serve Handler;
// call Close when done.
type App struct {
	handler   http.Handler
	doc       []byte       // the OpenAPI document GET /openapi.json serves
	api       *openapi.API // its route table
	storeName string
	closers   []func() error
	// pending counts idempotency work that outlives a response (a commit
	// retried through a store blip); Run's shutdown waits for it.
	pending *idempotency.Pending
}

// Handler returns the app's HTTP handler: its front door (Config.Framework:
// Echo v4, Echo v5, gin, net/http's ServeMux or chi) inside the access log.
// It is safe for concurrent use. Run serves it with the timeouts of Config; a caller
// serving it on its own server should set them likewise.
func (s *App) Handler() http.Handler { return s.handler }

// Close releases what New opened: the Redis client, the PostgreSQL pool
// and the stores it created (not those passed in Config). Call it once, after the handler
// has stopped serving.
func (s *App) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return errors.Join(errs...)
}

// New wires the app of cfg, logging to logger (nil: discarded), in the
// documented check order (see stack):
//
//	request id → recover → header limit (400) → auth (401) → rate limit (429) → in flight (429)
//	→ scope (403) → idempotency (409 / replay) → validation (400, 404, 422) → handler
//
// It checks cfg as ParseConfig does. With RedisURL set it connects to that
// Redis (an unreachable Redis is logged, not an error: the stores answer
// 503 or fail open until it is back; ctx bounds the first ping) and points
// go-redis's process-wide logger at logger. With PostgresURL set it opens a
// pool on that database and creates the app's tables (an unreachable
// database is logged, not an error: the routes that need it answer 503
// until it is back, and the tables are created then).
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*App, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &App{storeName: "memory", pending: new(idempotency.Pending)}
	ok := false
	defer func() {
		if !ok {
			_ = s.Close()
		}
	}()

	// Stores: those of cfg when given; else the idempotency records in
	// PostgreSQL when -postgres is set; else in Redis when -redis is set,
	// in memory by default.
	rlStore, idemStore := cfg.RateLimitStore, cfg.IdempotencyStore
	var inFlightStore ratelimit.ConcurrencyStore // nil: in memory
	var led ledger
	if cfg.PostgresURL != "" {
		pg, err := newPGBackend(ctx, cfg, logger)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, pg.close)
		if idemStore == nil {
			idemStore = pg.idempotencyStore()
		}
		led = pg.ledger
	}
	switch {
	case rlStore != nil && idemStore != nil:
		s.storeName = "custom"
	case cfg.RedisURL != "":
		rdb, err := newRedisClient(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("-redis: %w", err)
		}
		// go-redis logs through one process-wide logger, plain text to
		// stderr by default: send its lines to the JSON log instead.
		redact := newRedactor(cfg.RedisURL)
		redis.SetLogger(&redisLogger{logger: logger, redact: redact})
		s.closers = append(s.closers, rdb.Close)
		pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err = rdb.Ping(pingCtx).Err()
		cancel()
		if err != nil {
			// Not fatal: the stores answer 503 (idempotency) or fail open
			// (rate limits) until Redis is reachable.
			logger.Warn("redis not reachable at start", "error", redact(err.Error()))
		}
		if rlStore == nil {
			rs, err := rlredis.New(rdb, rlredis.Config{Prefix: "clipia:ratelimit:", TokenBatch: cfg.LimitBatch})
			if err != nil {
				return nil, err
			}
			s.closers = append(s.closers, rs.Close)
			rlStore = rs
		}
		if idemStore == nil {
			is, err := idemredis.New(rdb, idemredis.Config{Prefix: "clipia:idempotency:"})
			if err != nil {
				return nil, err
			}
			idemStore = is
		}
		if inFlightStore, err = rlredis.NewConcurrency(rdb, rlredis.ConcurrencyConfig{Prefix: "clipia:inflight:"}); err != nil {
			return nil, err
		}
		s.storeName = "redis"
	default:
		if rlStore == nil {
			ms := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{})
			s.closers = append(s.closers, ms.Close)
			rlStore = ms
		}
		if idemStore == nil {
			is := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
			s.closers = append(s.closers, is.Close)
			idemStore = is
		}
	}

	if cfg.PostgresURL != "" {
		s.storeName = "postgres"
		if cfg.RedisURL != "" {
			s.storeName = "postgres+redis" // rate limits in Redis
		}
	}
	if led == nil {
		led = newMemLedger(startCredits(cfg.Credits))
	}

	keys, err := auth.NewMemoryKeyStore(demoKeys)
	if err != nil {
		return nil, err
	}
	models, err := modelRegistry()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics()
	if err != nil {
		return nil, err
	}
	// Every guard, built once: each front door (front_*.go) only mounts
	// the same lists on the same routes.
	tc := m.telemetry()
	sc := stackConfig{
		logger:    logger,
		telemetry: tc,
		keys:      keys,
		models:    models,
		limit: ratelimit.Config{
			Policies:   []ratelimit.Policy{ratePolicy(cfg.Rate, cfg.Burst)},
			Store:      rlStore,
			FailClosed: cfg.RateLimitFailClosed,
			Logger:     logger,
			Telemetry:  tc,
		},
		idem: idempotency.Config{
			Store:     idemStore,
			Retention: cfg.IdempotencyTTL,
			Lease:     cfg.LockTTL,
			Logger:    logger,
			Pending:   s.pending,
			Telemetry: tc,
		},
	}
	if cfg.MaxInFlight > 0 {
		// Generations in flight per tenant (the default key: tenant, else
		// key id, else client IP).
		sc.inFlight = &ratelimit.ConcurrencyConfig{
			Limit: cfg.MaxInFlight, Name: "generations", Store: inFlightStore, Logger: logger,
			FailClosed: cfg.RateLimitFailClosed,
		}
	}
	st, err := newStack(sc)
	if err != nil {
		return nil, err
	}

	h := &handlers{ledger: led, generate: cfg.Generate, metrics: m.handler}
	if h.generate == nil {
		delay := cfg.WorkDelay
		h.generate = func(ctx context.Context, _ string) error { return wait(ctx, delay) }
	}
	api := st.api(cfg.PostgresURL != "")
	if h.doc, err = api.JSON(); err != nil {
		return nil, err
	}
	var front func(*stack, *handlers) (http.Handler, []string)
	switch cfg.Framework {
	case FrameworkEcho5:
		front = frontEcho5
	case FrameworkNetHTTP:
		front = frontNetHTTP
	case FrameworkChi:
		front = frontChi
	case FrameworkGin:
		front = frontGin
	default:
		front = frontEcho4
	}
	door, patterns := front(st, h)
	// The document lists exactly the routes the door serves.
	if err := api.Check(patterns); err != nil {
		return nil, err
	}
	s.handler, s.doc, s.api = st.log(door), h.doc, api
	ok = true
	return s, nil
}

// newRedisClient connects to the Redis of url: one node for
// redis://host:port/db, a Redis Cluster when the URL names more nodes with
// addr parameters (redis://host1:port?addr=host2:port&addr=host3:port).
// Context timeouts are on, so request deadlines and the stores' timeouts cut
// a slow Redis call short: a slow Redis bounds latency instead of stalling it.
func newRedisClient(url string) (redis.UniversalClient, error) {
	if strings.Contains(url, "addr=") {
		opts, err := redis.ParseClusterURL(url)
		if err != nil {
			return nil, err
		}
		opts.ContextTimeoutEnabled = true
		return redis.NewClusterClient(opts), nil
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	opts.ContextTimeoutEnabled = true
	return redis.NewClient(opts), nil
}

// ratePolicy turns -rate (per second, possibly fractional) and -burst into
// a token bucket named "default".
func ratePolicy(rate float64, burst int) ratelimit.Policy {
	if rate == math.Trunc(rate) {
		return ratelimit.Policy{Name: "default", Rate: int64(rate), Period: time.Second, Burst: int64(burst)}
	}
	// 0.5/s is 500 per 1000 s: the same interval between tokens.
	return ratelimit.Policy{Name: "default", Rate: int64(math.Round(rate * 1000)), Period: 1000 * time.Second, Burst: int64(burst)}
}

// modelRegistry states what each model accepts: the 422 rules and the
// defaults of the optional fields.
func modelRegistry() (*bind.MemoryModels, error) {
	ms := make([]bind.Model, 0, len(catalogue))
	for _, m := range catalogue {
		ms = append(ms, bind.Model{
			ID:       m.ID,
			Defaults: map[string]any{"duration": 5, "resolution": m.Resolutions[0]},
			Rules: []bind.Rule{
				bind.MaxInt("duration", int64(m.MaxDuration), "seconds"),
				bind.OneOf("resolution", m.Resolutions...),
			},
		})
	}
	return bind.NewMemoryModels(ms...)
}

// millis is d in milliseconds, truncated to the microsecond: 0.346, not
// 346026 (nanoseconds, slog's JSON form of a time.Duration).
func millis(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
