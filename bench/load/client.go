package load

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// NewHTTPClient returns a client for loopback load: keep-alive with up to
// conns idle connections per host, no compression, the given timeout.
func NewHTTPClient(conns int, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConns:        conns * 2,
			MaxIdleConnsPerHost: conns * 2,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		},
	}
}

// Req is one request of a scenario.
type Req struct {
	Method string
	Path   string
	APIKey string            // sent as Authorization: Bearer; empty: none
	Header map[string]string // extra headers (e.g. Idempotency-Key)
	Body   []byte
}

// Do sends r to base and returns the checked outcome (see CheckResponse),
// its latency, and the first error: transport failure or contract violation.
func Do(c *http.Client, base string, r Req) (Outcome, time.Duration, error) {
	status, h, b, lat, err := Send(c, base, r)
	if err != nil {
		return Outcome{}, lat, err
	}
	o, err := CheckResponse(r.Method, status, h, b)
	if err != nil {
		err = fmt.Errorf("%s %s: %w", r.Method, r.Path, err)
	}
	return o, lat, err
}

// Send sends r to base and returns the response, unchecked, and its latency.
func Send(c *http.Client, base string, r Req) (status int, h http.Header, respBody []byte, lat time.Duration, err error) {
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequest(r.Method, base+r.Path, body)
	if err != nil {
		return 0, nil, nil, 0, err
	}
	if r.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+r.APIKey)
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, time.Since(start), err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header, b, time.Since(start), err
}

// Stats are the latencies of a closed-loop run.
type Stats struct {
	Count   int
	Elapsed time.Duration
	lat     []time.Duration // sorted
}

// RPS is requests per second.
func (s Stats) RPS() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Count) / s.Elapsed.Seconds()
}

// Quantile returns the q-quantile latency (0 ≤ q ≤ 1), nearest rank.
func (s Stats) Quantile(q float64) time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	i := int(q*float64(len(s.lat))+0.5) - 1
	i = max(0, min(i, len(s.lat)-1))
	return s.lat[i]
}

// Loop runs fn from workers goroutines in a closed loop (each waits for
// its answer before sending again) until limit calls were made or d has
// passed, whichever comes first (limit ≤ 0: no count limit). fn gets a
// global sequence number and returns the call's latency.
func Loop(workers, limit int, d time.Duration, fn func(i int) time.Duration) Stats {
	var (
		next  atomic.Int64
		mu    sync.Mutex
		all   []time.Duration
		wg    sync.WaitGroup
		start = time.Now()
		end   = start.Add(d)
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for {
				i := int(next.Add(1) - 1)
				if (limit > 0 && i >= limit) || time.Now().After(end) {
					break
				}
				mine = append(mine, fn(i))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	st := Stats{Count: len(all), Elapsed: time.Since(start), lat: all}
	slices.Sort(st.lat)
	return st
}
