package errorsx_test

import (
	"os"
	"strings"
	"testing"

	"github.com/clipia/apiguard/errorsx"
)

// TestConstructorDocsShowTheMessage: go doc of every row's constructor
// shows its default message, and the text stays the catalogue's.
func TestConstructorDocsShowTheMessage(t *testing.T) {
	src, err := os.ReadFile("error.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range errorsx.Rows() {
		if !strings.Contains(string(src), "//\t"+r.Message+"\n") {
			t.Errorf("error.go: no constructor doc shows the message of %s: %q", r.Code, r.Message)
		}
	}
}
