package pg

import (
	"os"
	"testing"

	"github.com/clipia/apiguard/bench/load"
	"github.com/clipia/apiguard/internal/pgtest"
)

func TestMain(m *testing.M) {
	code := pgtest.Run(m)
	load.Cleanup()
	os.Exit(code)
}
