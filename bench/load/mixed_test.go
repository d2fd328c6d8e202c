package load

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// kind is one kind of request of the mixed load, with the outcomes the
// contract allows for it. Authenticated kinds may also meet the rate limit.
type kind struct {
	name   string
	weight int
	allow  []string // Outcome.Key values
	// build returns the request; keyed kinds also return the key record.
	build func(m *mix, r *rand.Rand) (Req, *keyed)
}

// keyed is one Idempotency-Key as sent: by whom and with what body.
type keyed struct {
	apiKey, key, tenant string
	body                []byte
}

// mix is the state of one mixed-load run.
type mix struct {
	mu    sync.Mutex
	keys  []*keyed
	gens  []string // ids of acme generations seen
	seq   int
	runID string
}

func (m *mix) newKey(apiKey, tenant string, body []byte) *keyed {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	k := &keyed{apiKey: apiKey, tenant: tenant, key: m.runID + "-" + strconv.Itoa(m.seq), body: body}
	m.keys = append(m.keys, k)
	return k
}

func (m *mix) oldKey(r *rand.Rand) *keyed {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.keys) == 0 {
		return nil
	}
	// Mostly recent keys, so that duplicates also meet in-progress claims.
	n := len(m.keys)
	i := n - 1 - r.IntN(min(n, 8))
	if r.IntN(4) == 0 {
		i = r.IntN(n)
	}
	return m.keys[i]
}

var payers = []struct{ apiKey, tenant string }{{"sk_test_full", "acme"}, {"sk_test_other", "globex"}}

func genBody(r *rand.Rand, prompt string) []byte {
	return fmt.Appendf(nil, `{"model":"clipia-fast","prompt":%q,"duration":%d}`, prompt, 1+r.IntN(10))
}

const limited = "429 rate_limit_exceeded"

var kinds = []kind{
	{"generation, no key", 12, []string{"201", limited}, func(m *mix, r *rand.Rand) (Req, *keyed) {
		p := payers[r.IntN(2)]
		return Req{Method: "POST", Path: "/v1/generations", APIKey: p.apiKey, Body: genBody(r, "a cat")}, nil
	}},
	// A duplicate of a new key may reach the server first, so the first
	// request sent can meet its duplicate's claim or record.
	{"generation, new key", 14, []string{"201", "409 request_in_progress", "409 idempotency_key_reuse", limited}, newKeyReq},
	{"duplicate", 14, []string{"201", "409 request_in_progress", "409 idempotency_key_reuse", limited}, func(m *mix, r *rand.Rand) (Req, *keyed) {
		k := m.oldKey(r)
		if k == nil {
			return newKeyReq(m, r)
		}
		key := k.key
		if r.IntN(2) == 0 {
			key = strconv.Quote(key) // the Structured-Field string form names the same key
		}
		// Same meaning, other bytes: spaces and key order do not matter.
		body := bytes.ReplaceAll(k.body, []byte(`,"`), []byte(`, "`))
		return Req{Method: "POST", Path: "/v1/generations", APIKey: k.apiKey, Body: body,
			Header: map[string]string{"Idempotency-Key": key}}, k
	}},
	{"same key, other body", 4, []string{"409 idempotency_key_reuse", "201", limited}, func(m *mix, r *rand.Rand) (Req, *keyed) {
		k := m.oldKey(r)
		if k == nil {
			return newKeyReq(m, r)
		}
		// A unique other body: two of them never share a fingerprint, so
		// this kind can never meet its own claim (request_in_progress).
		return Req{Method: "POST", Path: "/v1/generations", APIKey: k.apiKey, Body: genBody(r, "something else "+strconv.FormatUint(r.Uint64(), 36)),
			Header: map[string]string{"Idempotency-Key": k.key}}, k
	}},
	{"list models", 10, []string{"200", limited}, func(m *mix, r *rand.Rand) (Req, *keyed) {
		return Req{Method: "GET", Path: "/v1/models", APIKey: payers[r.IntN(2)].apiKey}, nil
	}},
	{"get generation", 4, []string{"200", "404 not_found", limited}, func(m *mix, r *rand.Rand) (Req, *keyed) {
		m.mu.Lock()
		id := "gen_unknown"
		if len(m.gens) > 0 {
			id = m.gens[r.IntN(len(m.gens))]
		}
		m.mu.Unlock()
		return Req{Method: "GET", Path: "/v1/generations/" + id, APIKey: "sk_test_full"}, nil
	}},
	{"other tenant's generation", 2, []string{"404 not_found", limited}, func(m *mix, r *rand.Rand) (Req, *keyed) {
		m.mu.Lock()
		id := "gen_unknown"
		if len(m.gens) > 0 {
			id = m.gens[r.IntN(len(m.gens))]
		}
		m.mu.Unlock()
		return Req{Method: "GET", Path: "/v1/generations/" + id, APIKey: "sk_test_other"}, nil
	}},
	{"malformed JSON", 4, []string{"400 invalid_request", limited}, func(m *mix, r *rand.Rand) (Req, *keyed) {
		bodies := []string{`{"model":`, `[]`, `{"model":"clipia-fast","prompt":3}`, `{"model":"clipia-fast"}`, `{"model":"clipia-fast","prompt":"x","duration":"5"}`, `{"model":"clipia-fast","prompt":"x","duration":0}`, "\xff"}
		return Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_full", Body: []byte(bodies[r.IntN(len(bodies))])}, nil
	}},
	{"wrong Content-Type", 1, []string{"400 invalid_request", limited}, func(m *mix, r *rand.Rand) (Req, *keyed) {
		return Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_full", Body: genBody(r, "x"),
			Header: map[string]string{"Content-Type": "text/plain"}}, nil
	}},
	{"body over 1 MiB", 1, []string{"400 invalid_request", limited}, func(m *mix, r *rand.Rand) (Req, *keyed) {
		return Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_full",
			Body: fmt.Appendf(nil, `{"model":"clipia-fast","prompt":%q}`, strings.Repeat("a", 1<<20+10))}, nil
	}},
	{"bad Idempotency-Key", 2, []string{"400 invalid_request", limited}, func(m *mix, r *rand.Rand) (Req, *keyed) {
		keys := []string{strings.Repeat("k", 256), "caf\u00e9", `"unterminated`, `""`}
		return Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_full", Body: genBody(r, "x"),
			Header: map[string]string{"Idempotency-Key": keys[r.IntN(len(keys))]}}, nil
	}},
	{"bad API key", 4, []string{"401 invalid_api_key"}, func(m *mix, r *rand.Rand) (Req, *keyed) {
		keys := []string{"sk_test_nope", "sk_test_revoked", "", "sk test full", strings.Repeat("x", 5000)}
		req := Req{Method: "POST", Path: "/v1/generations", APIKey: keys[r.IntN(len(keys))], Body: genBody(r, "x")}
		if r.IntN(3) == 0 {
			req.Method, req.Path, req.Body = "GET", "/v1/models", nil
		}
		return req, nil
	}},
	{"read-only key writes", 2, []string{"403 insufficient_scope", limited}, func(m *mix, r *rand.Rand) (Req, *keyed) {
		return Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_readonly", Body: genBody(r, "x")}, nil
	}},
	{"no credits", 2, []string{"402 insufficient_credits", limited}, func(m *mix, r *rand.Rand) (Req, *keyed) {
		return Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_nocredits", Body: genBody(r, "x")}, nil
	}},
	{"unknown model", 2, []string{"404 not_found", limited}, func(m *mix, r *rand.Rand) (Req, *keyed) {
		return Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_full", Body: []byte(`{"model":"clipia-nope","prompt":"x"}`)}, nil
	}},
	{"model rules", 3, []string{"422 model_input_invalid", limited}, func(m *mix, r *rand.Rand) (Req, *keyed) {
		bodies := []string{`{"model":"clipia-fast","prompt":"x","duration":11}`, `{"model":"clipia-fast","prompt":"x","resolution":"4k"}`}
		return Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_full", Body: []byte(bodies[r.IntN(2)])}, nil
	}},
	{"unknown route", 2, []string{"404 not_found", limited}, func(m *mix, r *rand.Rand) (Req, *keyed) {
		reqs := []Req{{Method: "GET", Path: "/v2/nothing"}, {Method: "DELETE", Path: "/v1/models", APIKey: "sk_test_full"}, {Method: "GET", Path: "/v1/nothing", APIKey: "sk_test_full"}}
		return reqs[r.IntN(len(reqs))], nil
	}},
	{"maintenance model (asks for 503)", 1, []string{"503 service_unavailable", limited}, func(m *mix, r *rand.Rand) (Req, *keyed) {
		return Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_full", Body: []byte(`{"model":"clipia-maintenance","prompt":"x"}`)}, nil
	}},
	{"faulty model (asks for 500)", 1, []string{"500 internal_error", limited}, func(m *mix, r *rand.Rand) (Req, *keyed) {
		return Req{Method: "POST", Path: "/v1/generations", APIKey: "sk_test_full", Body: []byte(`{"model":"clipia-faulty","prompt":"x"}`)}, nil
	}},
}

func newKeyReq(m *mix, r *rand.Rand) (Req, *keyed) {
	p := payers[r.IntN(2)]
	k := m.newKey(p.apiKey, p.tenant, genBody(r, "prompt "+strconv.Itoa(r.IntN(1e9))))
	return Req{Method: "POST", Path: "/v1/generations", APIKey: k.apiKey, Body: k.body,
		Header: map[string]string{"Idempotency-Key": k.key}}, k
}

func pickKind(r *rand.Rand) *kind {
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	n := r.IntN(total)
	for i := range kinds {
		if n < kinds[i].weight {
			return &kinds[i]
		}
		n -= kinds[i].weight
	}
	panic("unreachable")
}

// result is one response of the mixed load.
type result struct {
	kind   *kind
	k      *keyed
	body   []byte // the body sent
	payer  string // tenant of the API key sent
	apiKey string
	o      Outcome
}

// mixedReport is what a run of the mixed load found.
type mixedReport struct {
	sent, errs                int
	byKind                    map[string]map[string]int
	rssStart, rssWarm, rssEnd int64
	thStart, thWarm, thEnd    int
	rps                       float64
	p50, p99                  time.Duration
	passed, limited           map[string]int // per API key
}

const startCredits = 1_000_000_000

func runMixed(t *testing.T, srv *Server, rate, burst int, total, workers int, maxTime time.Duration) mixedReport {
	t.Helper()
	m := &mix{runID: strconv.FormatInt(time.Now().UnixNano(), 36)}
	client := NewHTTPClient(workers, 30*time.Second)
	var (
		mu      sync.Mutex
		results []result
		errs    []string
	)
	rep := mixedReport{byKind: map[string]map[string]int{}}
	rep.rssStart, rep.thStart, _ = ProcStatus(srv.PID())
	phase := func(seed uint64, n int, d time.Duration) Stats {
		return Loop(workers, n, d, func(i int) time.Duration {
			r := rand.New(rand.NewPCG(seed, uint64(i)))
			kd := pickKind(r)
			req, k := kd.build(m, r)
			o, lat, err := Do(client, srv.URL, req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", kd.name, err))
				return lat
			}
			if !slices.Contains(kd.allow, o.Key()) {
				errs = append(errs, fmt.Sprintf("%s: %s %s got %s, want one of %v: %s", kd.name, req.Method, req.Path, o.Key(), kd.allow, tail(string(o.Body), 300)))
			}
			if o.Status == http.StatusCreated {
				if id := GenID(o.Body); strings.HasPrefix(id, "gen_") && (k == nil || k.tenant == "acme") && req.APIKey == "sk_test_full" {
					m.mu.Lock()
					m.gens = append(m.gens, id)
					m.mu.Unlock()
				}
			}
			o.Header = nil
			results = append(results, result{kind: kd, k: k, body: req.Body, payer: tenantOfKey(req.APIKey), apiKey: req.APIKey, o: o})
			return lat
		})
	}
	// Warm-up: a fifth of the load, then the RSS that the rest must not
	// grow far beyond.
	began := time.Now()
	phase(1, total/5, maxTime/5)
	rep.rssWarm, rep.thWarm, _ = ProcStatus(srv.PID())
	st := phase(2, total, maxTime)
	elapsed := time.Since(began)
	rep.rssEnd, rep.thEnd, _ = ProcStatus(srv.PID())
	rep.rps, rep.p50, rep.p99 = st.RPS(), st.Quantile(0.5), st.Quantile(0.99)

	rep.sent = len(results) + len(errs)
	rep.errs = len(errs)
	for i, e := range errs {
		if i == 20 {
			t.Errorf("… and %d more", len(errs)-20)
			break
		}
		t.Error(e)
	}
	for _, r := range results {
		if rep.byKind[r.kind.name] == nil {
			rep.byKind[r.kind.name] = map[string]int{}
		}
		key := r.o.Key()
		if r.o.Replayed {
			key += " (replayed)"
		}
		rep.byKind[r.kind.name][key]++
	}

	// Exactly once per key: at most one response per key that ran the
	// handler (a 201 not replayed); every replay is that response, byte for
	// byte; and every 201 of a key is for the body that won the key.
	type keyState struct {
		first   []byte
		runs    int
		replays [][]byte
	}
	perKey := map[*keyed]*keyState{}
	for _, r := range results {
		if r.o.Status != http.StatusCreated || r.k == nil {
			continue
		}
		ks := perKey[r.k]
		if ks == nil {
			ks = &keyState{}
			perKey[r.k] = ks
		}
		if r.o.Replayed {
			ks.replays = append(ks.replays, r.o.Body)
		} else {
			ks.runs++
			ks.first = r.o.Body
		}
	}
	for k, ks := range perKey {
		if ks.runs > 1 {
			t.Errorf("key %s: the handler ran %d times, want at most once", k.key, ks.runs)
		}
		for _, b := range ks.replays {
			if ks.first != nil && !bytes.Equal(b, ks.first) {
				t.Errorf("key %s: replay %s differs from the first response %s", k.key, b, ks.first)
			}
		}
	}
	// The limiter lets through at most burst + rate × elapsed requests per
	// API key (every authenticated request takes a token, whatever its
	// outcome after the limiter).
	passed := map[string]int{}
	passedBy := map[string]map[string]int{}
	rep.limited = map[string]int{}
	for _, r := range results {
		if r.kind.name == "unknown route" {
			// DELETE /v1/models is refused by the router (wrong method)
			// before the group's middlewares run: it takes no token.
			continue
		}
		if passedBy[r.apiKey] == nil {
			passedBy[r.apiKey] = map[string]int{}
		}
		if r.o.Status != http.StatusTooManyRequests {
			passedBy[r.apiKey][r.kind.name]++
		}
		switch r.o.Status {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			rep.limited[r.apiKey]++
		default:
			passed[r.apiKey]++
		}
	}
	rep.passed = passed
	maxPass := float64(burst) + float64(rate)*elapsed.Seconds()
	for k, n := range passed {
		if k != "" && float64(n) > maxPass*1.01+1 {
			t.Errorf("API key %s: %d requests passed the rate limit in %v, want at most %.0f (burst %d + %d/s); by kind %v", k, n, elapsed, maxPass, burst, rate, passedBy[k])
		}
	}
	checkCredits(t, srv, client, results)
	return rep
}

// checkCredits compares each paying tenant's balance with the cost of the
// generations that ran (201 not replayed): credits are taken exactly once
// per distinct idempotency key, and once per un-keyed generation.
func checkCredits(t *testing.T, srv *Server, client *http.Client, results []result) {
	t.Helper()
	want := map[string]int64{}
	runsByTenant := map[string]int{}
	for _, r := range results {
		if r.o.Status != http.StatusCreated || r.o.Replayed {
			continue
		}
		want[r.payer] += Cost(r.o.Body)
		runsByTenant[r.payer]++
	}
	for _, p := range payers {
		var bal struct {
			Credits int64 `json:"credits"`
		}
		var o Outcome
		var err error
		for attempt := 0; attempt < 50; attempt++ {
			o, _, err = Do(client, srv.URL, Req{Method: "GET", Path: "/v1/balance", APIKey: p.apiKey})
			if err == nil && o.Status == http.StatusOK {
				break
			}
			time.Sleep(100 * time.Millisecond) // a 429: let the bucket refill
		}
		if err != nil || o.Status != http.StatusOK {
			t.Fatalf("GET /v1/balance as %s: %v %s", p.tenant, err, o.Key())
		}
		if err := json.Unmarshal(o.Body, &bal); err != nil {
			t.Fatalf("balance: %v", err)
		}
		if got, want := startCredits-bal.Credits, want[p.tenant]; got != want {
			t.Errorf("tenant %s: credits spent %d, want %d (the cost of its %d generations that ran)", p.tenant, got, want, runsByTenant[p.tenant])
		}
	}
}

func tenantOfKey(apiKey string) string {
	for _, p := range payers {
		if p.apiKey == apiKey {
			return p.tenant
		}
	}
	return ""
}

func formatMixed(name string, rep mixedReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Mixed load: %s\n\n", name)
	fmt.Fprintf(&b, "%d requests, %.0f req/s, p50 %v, p99 %v; %d outside the contract or unexpected.\n", rep.sent, rep.rps, rep.p50.Round(time.Microsecond), rep.p99.Round(time.Microsecond), rep.errs)
	fmt.Fprintf(&b, "Server RSS: start %.1f MB, after warm-up %.1f MB, end %.1f MB; OS threads %d → %d → %d.\n\n",
		mb(rep.rssStart), mb(rep.rssWarm), mb(rep.rssEnd), rep.thStart, rep.thWarm, rep.thEnd)
	for _, k := range []string{"sk_test_full", "sk_test_other"} {
		fmt.Fprintf(&b, "Rate limit, %s: %d passed, %d refused (429).\n", k, rep.passed[k], rep.limited[k])
	}
	b.WriteString("\n| kind | outcomes (status code: count) |\n|---|---|\n")
	names := make([]string, 0, len(rep.byKind))
	for n := range rep.byKind {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		var parts []string
		for k, c := range rep.byKind[n] {
			parts = append(parts, fmt.Sprintf("%s: %d", k, c))
		}
		sort.Strings(parts)
		fmt.Fprintf(&b, "| %s | %s |\n", n, strings.Join(parts, ", "))
	}
	return b.String()
}

func mb(kb int64) float64 { return float64(kb) / 1024 }
