package reqctx

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
)

type keyA struct{}
type keyB struct{}

func TestWithCopiesTheRequestOnce(t *testing.T) {
	type parentKey struct{}
	r0 := httptest.NewRequest("GET", "/", nil)
	r0 = r0.WithContext(context.WithValue(r0.Context(), parentKey{}, "p"))
	r1 := With(r0, keyA{}, 1)
	if r1 == r0 {
		t.Fatal("the first value must copy the request")
	}
	if r0.Context().Value(keyA{}) != nil {
		t.Fatal("the original request sees the value")
	}
	r2 := With(r1, keyB{}, 2)
	if r2 != r1 {
		t.Fatal("the second value copied the request again")
	}
	r3 := With(r2, keyA{}, 3) // shadows
	ctx := r3.Context()
	if got := ctx.Value(keyA{}); got != 3 {
		t.Fatalf("keyA = %v, want the newest, 3", got)
	}
	if got := ctx.Value(keyB{}); got != 2 {
		t.Fatalf("keyB = %v, want 2", got)
	}
	if got := ctx.Value(parentKey{}); got != "p" {
		t.Fatalf("parent's value = %v, want p", got)
	}
	// Full after slots values: the next one takes a new context, the old
	// values stay.
	full := r3
	for n := 3; n < slots; n++ {
		if With(full, keyB{}, 2) != full {
			t.Fatalf("value %d of %d copied the request", n+1, slots)
		}
	}
	r4 := With(full, keyB{}, 4)
	if r4 == full {
		t.Fatal("a full context took another value")
	}
	if r4.Context().Value(keyA{}) != 3 || r4.Context().Value(keyB{}) != 4 || full.Context().Value(keyB{}) != 2 {
		t.Fatal("values lost when the context filled up")
	}
}

// TestWithAfterADerivedContext: once a guard derived a context (a
// deadline, a cancel), the next value goes into a new context on top, and
// the derived context's holders do not see it.
func TestWithAfterADerivedContext(t *testing.T) {
	r1 := With(httptest.NewRequest("GET", "/", nil), keyA{}, 1)
	ctx, cancel := context.WithCancel(r1.Context())
	defer cancel()
	r2 := r1.WithContext(ctx)
	r3 := With(r2, keyB{}, 2)
	if r3 == r2 || r1.Context().Value(keyB{}) != nil || ctx.Value(keyB{}) != nil {
		t.Fatal("a value reached a context derived before it was stored")
	}
	if r3.Context().Value(keyA{}) != 1 || r3.Context().Value(keyB{}) != 2 {
		t.Fatal("values lost")
	}
	cancel()
	if r3.Context().Err() == nil {
		t.Fatal("the new context does not end with its parent")
	}
}

// TestConcurrentReader: a goroutine reading the context while the guard's
// goroutine stores values sees each value whole or not at all (go test
// -race checks the publication).
func TestConcurrentReader(t *testing.T) {
	r := With(httptest.NewRequest("GET", "/", nil), keyA{}, "a")
	ctx := r.Context()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 1000 {
			if v := ctx.Value(keyB{}); v != nil && v != "b" {
				t.Errorf("read %v", v)
				return
			}
		}
	}()
	With(r, keyB{}, "b")
	wg.Wait()
	if ctx.Value(keyB{}) != "b" {
		t.Fatal("value not stored in place")
	}
}
