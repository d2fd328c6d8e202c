package faults

import (
	"os"
	"testing"

	"github.com/clipia/apiguard/bench/load"
)

func TestMain(m *testing.M) {
	code := m.Run()
	load.Cleanup()
	os.Exit(code)
}
