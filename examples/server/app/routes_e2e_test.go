package app

import (
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/storetest"
)

// modelBody is one model as the API shows it.
type modelBody struct {
	ID             string   `json:"id"`
	MaxDuration    int      `json:"max_duration"`
	Resolutions    []string `json:"resolutions"`
	PricePerSecond int      `json:"price_per_second"`
}

// wantModels is the model table of examples/server/README.md, written out again so
// that a change to the catalogue fails here.
var wantModels = []modelBody{
	{"clipia-fast", 10, []string{"480p", "720p"}, 1},
	{"clipia-pro", 60, []string{"720p", "1080p", "4k"}, 5},
	{"clipia-maintenance", 10, []string{"720p"}, 1},
	{"clipia-faulty", 10, []string{"720p"}, 1},
}

func TestHealthz(t *testing.T) {
	s := startServer(t)
	for _, key := range []string{"", "sk_test_revoked", "sk_test_nosuchkey"} {
		got := do(t, s.url, req{path: "/healthz", key: key})
		if got.status != http.StatusOK {
			t.Errorf("key %q: GET /healthz = %d %s, want 200", key, got.status, got.body)
		}
		if !uuidRE.MatchString(got.header.Get("X-Request-Id")) {
			t.Errorf("X-Request-Id = %q, want a UUID", got.header.Get("X-Request-Id"))
		}
		if got.header.Get("RateLimit-Policy") != "" {
			t.Errorf("/healthz is rate limited: RateLimit-Policy %q", got.header.Get("RateLimit-Policy"))
		}
	}
}

func TestModels(t *testing.T) {
	s := startServer(t)
	t.Run("list", func(t *testing.T) {
		got := do(t, s.url, req{path: "/v1/models", key: "sk_test_full"})
		if got.status != http.StatusOK {
			t.Fatalf("status %d %s, want 200", got.status, got.body)
		}
		// Exactly {"data":[{"id","max_duration","resolutions","price_per_second"}…]}.
		var raw map[string][]map[string]json.RawMessage
		if err := json.Unmarshal(got.body, &raw); err != nil || len(raw) != 1 || raw["data"] == nil {
			t.Fatalf("body %s, want {\"data\":[…]} (%v)", got.body, err)
		}
		for _, m := range raw["data"] {
			if got, want := strings.Join(slices.Sorted(maps.Keys(m)), ","), "id,max_duration,price_per_second,resolutions"; got != want {
				t.Errorf("model keys %s, want %s", got, want)
			}
		}
		list := decode[struct{ Data []modelBody }](t, got).Data
		if !reflect.DeepEqual(list, wantModels) {
			t.Errorf("models\n%+v\nwant\n%+v", list, wantModels)
		}
	})
	for _, m := range wantModels {
		t.Run("get "+m.ID, func(t *testing.T) {
			got := do(t, s.url, req{path: "/v1/models/" + m.ID, key: "sk_test_readonly"})
			if got.status != http.StatusOK {
				t.Fatalf("status %d %s, want 200", got.status, got.body)
			}
			if g := decode[modelBody](t, got); !reflect.DeepEqual(g, m) {
				t.Errorf("got %+v, want %+v", g, m)
			}
		})
	}
}

func TestBalance(t *testing.T) {
	s := startServer(t, "-credits", "77", "-work-delay", "1ms")
	tests := []struct {
		key  string
		want int64
	}{
		{"sk_test_full", 77},
		{"sk_test_other", 77},
		{"sk_test_readonly", 77}, // tenant acme, like sk_test_full
		{"sk_test_nocredits", 0},
	}
	for _, tt := range tests {
		got := do(t, s.url, req{path: "/v1/balance", key: tt.key})
		if got.status != http.StatusOK || string(got.body) != `{"credits":`+strconv.FormatInt(tt.want, 10)+"}\n" {
			t.Errorf("%s: %d %q, want 200 {\"credits\":%d}", tt.key, got.status, got.body, tt.want)
		}
	}
	if r := do(t, s.url, post("sk_test_full", `{"model":"clipia-fast","prompt":"x","duration":7}`, "")); r.status != http.StatusCreated {
		t.Fatalf("generation: %d %s", r.status, r.body)
	}
	for key, want := range map[string]int64{"sk_test_full": 70, "sk_test_readonly": 70, "sk_test_other": 77} {
		if got := balanceOf(t, s.url, key); got != want {
			t.Errorf("%s after a 7-credit generation of acme: %d, want %d", key, got, want)
		}
	}
}

// TestGeneration checks the 201 body, its defaults and its Location, and
// that GET /v1/generations/:id returns the same record.
func TestGeneration(t *testing.T) {
	s := startServer(t, "-work-delay", "1ms")
	tests := []struct {
		name string
		body string
		want generationBody
	}{
		{"defaults", `{"model":"clipia-fast","prompt":"a cat"}`,
			generationBody{Object: "generation", Model: "clipia-fast", Prompt: "a cat", Duration: 5, Resolution: "480p", Cost: 5, Status: "succeeded"}},
		{"pro defaults to 720p", `{"model":"clipia-pro","prompt":"a dog","duration":2}`,
			generationBody{Object: "generation", Model: "clipia-pro", Prompt: "a dog", Duration: 2, Resolution: "720p", Cost: 10, Status: "succeeded"}},
		{"all fields at the limits", `{"model":"clipia-pro","prompt":"` + strings.Repeat("é", 4000) + `","duration":60,"resolution":"4k"}`,
			generationBody{Object: "generation", Model: "clipia-pro", Prompt: strings.Repeat("é", 4000), Duration: 60, Resolution: "4k", Cost: 300, Status: "succeeded"}},
	}
	idRE := regexp.MustCompile(`^gen_.+`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, s.url, post("sk_test_full", tt.body, ""))
			if got.status != http.StatusCreated {
				t.Fatalf("status %d %s, want 201", got.status, got.body)
			}
			g := decode[generationBody](t, got)
			if !idRE.MatchString(g.ID) {
				t.Errorf("id %q, want gen_…", g.ID)
			}
			want := tt.want
			want.ID = g.ID
			if g != want {
				t.Errorf("got %+v, want %+v", g, want)
			}
			if got, want := got.header.Get("Location"), "/v1/generations/"+g.ID; got != want {
				t.Errorf("Location = %q, want %q", got, want)
			}
			read := do(t, s.url, req{path: "/v1/generations/" + g.ID, key: "sk_test_full"})
			if read.status != http.StatusOK {
				t.Fatalf("GET: %d %s, want 200", read.status, read.body)
			}
			if r := decode[generationBody](t, read); r != g {
				t.Errorf("GET: %+v, want %+v", r, g)
			}
		})
	}
}

// TestRateLimit reaches 429 with -rate 1 -burst 2: the third quick request
// of a key is refused with Retry-After and the RateLimit headers; another
// key has its own bucket; a 401 takes no token. The limits are kept on a
// clock that stands still: on the real clock, a loaded machine that takes
// a second over a key's requests refills a token (and turns t=1 into t=0).
func TestRateLimit(t *testing.T) {
	var clock storetest.Clock
	limits := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{Now: clock.Now})
	t.Cleanup(func() { _ = limits.Close() })
	s := startHeld(t, func(cfg *Config) { cfg.Rate, cfg.Burst, cfg.RateLimitStore = 1, 2, limits })
	for i := range 5 { // 401s come before the limiter: they take no token
		if got := do(t, s.url, req{path: "/v1/models", key: "sk_test_nosuchkey"}); got.status != http.StatusUnauthorized {
			t.Fatalf("401 #%d: %d", i, got.status)
		}
	}
	for i := range 2 {
		got := do(t, s.url, req{path: "/v1/models", key: "sk_test_full"})
		if got.status != http.StatusOK {
			t.Fatalf("request %d: %d %s, want 200", i+1, got.status, got.body)
		}
		if got, want := got.header.Get("RateLimit-Policy"), `"default";q=2;w=2`; got != want {
			t.Errorf("RateLimit-Policy = %q, want %q", got, want)
		}
		if got, want := got.header.Get("RateLimit"), `"default";r=`+strconv.Itoa(1-i)+`;t=`; !strings.HasPrefix(got, want) {
			t.Errorf("request %d: RateLimit = %q, want prefix %q", i+1, got, want)
		}
	}
	got := do(t, s.url, req{path: "/v1/models", key: "sk_test_full"})
	checkError(t, got, errorWant{row: rowRateLimited, retryAfter: "1"})
	if got, want := got.header.Get("RateLimit-Policy"), `"default";q=2;w=2`; got != want {
		t.Errorf("429: RateLimit-Policy = %q, want %q", got, want)
	}
	if got, want := got.header.Get("RateLimit"), `"default";r=0;t=1`; got != want {
		t.Errorf("429: RateLimit = %q, want %q", got, want)
	}

	// Rate limit (429) comes before scope (403) and validation (400).
	checkError(t, do(t, s.url, post("sk_test_full", `{"model":`, "")), errorWant{row: rowRateLimited, retryAfter: "1"})
	for range 2 {
		checkError(t, do(t, s.url, post("sk_test_readonly", `{"model":`, "")), errorWant{row: rowInsufficientScope})
	}
	checkError(t, do(t, s.url, post("sk_test_readonly", `{"model":`, "")), errorWant{row: rowRateLimited, retryAfter: "1"})

	// sk_test_other is another key with its own bucket.
	if got := do(t, s.url, req{path: "/v1/models", key: "sk_test_other"}); got.status != http.StatusOK {
		t.Errorf("another key: %d %s, want 200", got.status, got.body)
	}
}
