package headerval

import (
	"runtime"
	"strings"
	"testing"

	"github.com/clipia/apiguard/internal/alloctest"
)

func TestOne(t *testing.T) {
	for _, in := range []string{"", "a", "default;r=99;t=1", strings.Repeat("x", inline), strings.Repeat("y", inline+1)} {
		b := []byte(in)
		got := One(b)
		for i := range b {
			b[i] = '!' // the caller's buffer is reused: the value must not change
		}
		runtime.GC()
		if len(got) != 1 || got[0] != in {
			t.Fatalf("One(%q) = %q", in, got)
		}
	}
}

func TestOneAllocatesOnce(t *testing.T) {
	b := []byte("0a1b2c3d-0a1b-4c3d-8e5f-0a1b2c3d4e5f")
	if n := alloctest.PerRun(100, func() { _ = One(b) }); n != 1 {
		t.Fatalf("%v allocations, want 1", n)
	}
}
