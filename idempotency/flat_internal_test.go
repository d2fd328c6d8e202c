package idempotency

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// TestFlatHeader checks that headers kept flat come back as they were:
// several values, empty values, long values, only the names asked for.
func TestFlatHeader(t *testing.T) {
	h := http.Header{
		"Content-Type": {"application/json"},
		"Etag":         {`"v1"`},
		"Link":         {"</a>; rel=next", "", strings.Repeat("x", 300)},
		"Set-Cookie":   {"s=1"},
	}
	all := appendFlat(nil, h, nil).header()
	if !reflect.DeepEqual(all, h) {
		t.Errorf("all names: got %v, want %v", all, h)
	}
	some := appendFlat(flatHeader("junk")[:0], h, []string{"Link", "Content-Type", "Location"}).header()
	want := http.Header{"Content-Type": h["Content-Type"], "Link": h["Link"]}
	if !reflect.DeepEqual(some, want) {
		t.Errorf("allowlisted: got %v, want %v", some, want)
	}
	if got := appendFlat(nil, http.Header{}, []string{"Link"}); len(got) != 0 {
		t.Errorf("no header: got %q, want nothing", got)
	}
	// A truncated record yields what it holds in full, never a panic.
	f := appendFlat(nil, h, []string{"Content-Type", "Link"})
	for i := range f {
		_ = f[:i].header()
	}
}
