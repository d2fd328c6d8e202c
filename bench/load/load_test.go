package load

import (
	"strconv"
	"testing"
	"time"
)

// loadSize is the size of the mixed load: requests, workers, time bound,
// and the server's per-key rate limit (per second, burst), set so that
// part of the traffic meets it.
func loadSize() (total, workers int, d time.Duration, rate, burst int) {
	switch {
	case Long():
		return 30_000, 16, 60 * time.Second, 1000, 2000
	case RaceEnabled():
		return 600, 4, 20 * time.Second, 300, 600
	default:
		return 2_000, 8, 20 * time.Second, 300, 600
	}
}

// TestMixedLoad drives the reference server with mixed traffic and checks
// that every response is one of the contract's rows, that no 5xx appears
// unless the request asked for it, that the handler ran at most once per
// idempotency key (and replays are byte for byte), and that credits were
// charged exactly once per generation that ran. It reports RSS.
func TestMixedLoad(t *testing.T) {
	total, workers, d, rate, burst := loadSize()
	for _, tc := range []struct {
		name  string
		redis bool
	}{
		{"memory stores", false},
		{"redis stores", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flags := []string{"-rate", strconv.Itoa(rate), "-burst", strconv.Itoa(burst), "-work-delay", "5ms", "-credits", "1000000000"}
			if tc.redis {
				r := StartRedis(t)
				flags = append(flags, "-redis", r.URL())
			}
			srv := StartServer(t, flags...)
			rep := runMixed(t, srv, rate, burst, total, workers, d)
			srv.CheckNoRace(t)
			if grow := rep.rssEnd - rep.rssWarm; grow > 150*1024 {
				t.Errorf("server RSS grew by %.1f MB after warm-up (%.1f → %.1f MB)", mb(grow), mb(rep.rssWarm), mb(rep.rssEnd))
			}
			name := "mixed-memory.md"
			if tc.redis {
				name = "mixed-redis.md"
			}
			WriteResult(t, name, formatMixed(tc.name, rep))
		})
	}
}
