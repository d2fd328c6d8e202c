package auth

import (
	"crypto/sha256"
	"testing"

	"github.com/clipia/apiguard/principal"
)

// TestKeyTablePrefixCollision: digests sharing the 8-byte index prefix are
// chained and told apart by the full comparison.
func TestKeyTablePrefixCollision(t *testing.T) {
	var a, b, c [sha256.Size]byte
	for i := range a {
		a[i], b[i], c[i] = 7, 7, 7
	}
	b[31], c[31] = 8, 9
	tab := indexKeys([]keyEntry{
		{digest: a, principal: &principal.Principal{KeyID: "a"}},
		{digest: b, principal: &principal.Principal{KeyID: "b"}},
	})
	tests := []struct {
		name   string
		digest [sha256.Size]byte
		want   string
	}{
		{"first in chain", a, "a"},
		{"second in chain", b, "b"},
		{"same prefix, unknown", c, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if e := tab.find(&tt.digest); e != nil {
				got = e.principal.KeyID
			}
			if got != tt.want {
				t.Errorf("got key id %q, want %q", got, tt.want)
			}
		})
	}
}
