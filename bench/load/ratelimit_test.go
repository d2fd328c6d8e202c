package load

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestOverLimitBurst hammers one API key well above its limit and checks
// that the server lets through at most burst + rate × elapsed requests,
// that every refusal is a 429 with Retry-After inside the contract, and
// that the limit does not refuse far more than it should (at least burst
// requests pass).
func TestOverLimitBurst(t *testing.T) {
	rate, burst := 200, 400
	d := time.Second
	if Long() {
		d = 5 * time.Second
	}
	if RaceEnabled() {
		// A -race server on a busy 2-core machine answers a few hundred
		// requests per second, fewer when other test binaries share the
		// machine: a limit well below that keeps the load above it (more
		// than burst + rate requests in the second).
		rate, burst = 20, 40
	}
	for _, tc := range []struct {
		name  string
		redis bool
	}{{"memory", false}, {"redis", true}} {
		t.Run(tc.name, func(t *testing.T) {
			flags := []string{"-rate", strconv.Itoa(rate), "-burst", strconv.Itoa(burst), "-work-delay", "0"}
			if tc.redis {
				flags = append(flags, "-redis", StartRedis(t).URL())
			}
			srv := StartServer(t, flags...)
			client := NewHTTPClient(8, 10*time.Second)
			var (
				mu             sync.Mutex
				passed, denied int
				errs           []error
			)
			start := time.Now()
			Loop(8, 0, d, func(i int) time.Duration {
				o, lat, err := Do(client, srv.URL, Req{Method: "GET", Path: "/v1/models", APIKey: "sk_test_readonly"})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					errs = append(errs, err)
				case o.Status == http.StatusOK:
					passed++
				case o.Status == http.StatusTooManyRequests:
					denied++
				default:
					t.Errorf("got %s, want 200 or 429", o.Key())
				}
				return lat
			})
			elapsed := time.Since(start)
			for _, err := range errs[:min(len(errs), 5)] {
				t.Error(err)
			}
			max := float64(burst) + float64(rate)*elapsed.Seconds()
			WriteResult(t, "burst-"+tc.name+".md", fmt.Sprintf("Over-limit burst, %s stores (-rate %d -burst %d, one key, 8 clients): %d passed, %d refused with 429 in %v; at most %.0f may pass.\n",
				tc.name, rate, burst, passed, denied, elapsed.Round(time.Millisecond), max))
			if float64(passed) > max+1 {
				t.Errorf("%d requests passed in %v, want at most %.0f (burst %d + %d/s)", passed, elapsed, max, burst, rate)
			}
			if passed < burst {
				t.Errorf("%d requests passed, want at least the burst %d", passed, burst)
			}
			if denied == 0 {
				t.Errorf("no request was refused: the load did not exceed the limit")
			}
		})
	}
}
