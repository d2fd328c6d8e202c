package load

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// Long reports whether the full campaign was asked for (APIGUARD_LONG=1).
// Otherwise tests run their short version.
func Long() bool { return os.Getenv("APIGUARD_LONG") == "1" }

// RaceEnabled reports whether the test binary was built with -race; tests
// shrink their load under it.
func RaceEnabled() bool { return raceEnabled }

// CI reports whether CI=true: missing tools fail instead of skipping.
func CI() bool { return os.Getenv("CI") == "true" }

// WriteResult logs text through tb and, when APIGUARD_RESULTS names a
// directory, also writes it there as name (bench/run.sh prints those files).
func WriteResult(tb testing.TB, name, text string) {
	tb.Helper()
	tb.Log("\n" + text)
	dir := os.Getenv("APIGUARD_RESULTS")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Errorf("results dir: %v", err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		tb.Errorf("writing result %s: %v", name, err)
	}
}

func gomaxprocs() string { return strconv.Itoa(runtime.GOMAXPROCS(0)) }
