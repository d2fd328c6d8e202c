package auth_test

import (
	"testing"

	"github.com/clipia/apiguard/internal/authtest"
)

// TestAuthThroughDoors runs the auth guards' behaviour table
// (internal/authtest) through every front door.
func TestAuthThroughDoors(t *testing.T) { authtest.Run(t) }

// BenchmarkAuthThroughDoors measures Authenticator + RequireScopes through
// every front door (-bench 'AuthThroughDoors/echo4' selects one).
func BenchmarkAuthThroughDoors(b *testing.B) { authtest.Bench(b) }
