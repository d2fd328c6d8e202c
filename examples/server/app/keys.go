package app

import (
	"log/slog"

	"github.com/clipia/apiguard/auth"
)

// Scopes of the demo API.
const (
	scopeModelsRead       = "models:read"
	scopeGenerationsRead  = "generations:read"
	scopeGenerationsWrite = "generations:write"
)

// demoKeys are the fixed, documented demo API keys (examples/server/README.md, "Demo API keys"). A
// real app loads keys from its database, ideally as SHA-256 digests
// (auth.KeyConfig.SHA256), never in clear.
var demoKeys = []auth.KeyConfig{
	{Key: "sk_test_full", KeyID: "key_full", Tenant: "acme",
		Scopes: []string{scopeModelsRead, scopeGenerationsRead, scopeGenerationsWrite}},
	{Key: "sk_test_other", KeyID: "key_other", Tenant: "globex",
		Scopes: []string{scopeModelsRead, scopeGenerationsRead, scopeGenerationsWrite}},
	{Key: "sk_test_readonly", KeyID: "key_readonly", Tenant: "acme",
		Scopes: []string{scopeModelsRead, scopeGenerationsRead}},
	{Key: "sk_test_nocredits", KeyID: "key_nocredits", Tenant: "initech",
		Scopes: []string{scopeModelsRead, scopeGenerationsRead, scopeGenerationsWrite}},
	{Key: "sk_test_revoked", KeyID: "key_revoked", Tenant: "acme", Revoked: true},
}

// startCredits are the tenants' balances at start: every tenant with credits
// gets -credits; initech starts with none.
func startCredits(credits int64) map[string]int64 {
	return map[string]int64{"acme": credits, "globex": credits, "initech": 0}
}

// printDemoKeys logs the demo keys, so a person can try the API at once.
// Printing keys is only right because these are public demo keys.
func printDemoKeys(logger *slog.Logger) {
	for _, k := range demoKeys {
		state := "active"
		if k.Revoked {
			state = "revoked"
		}
		logger.Info("demo API key", "key", k.Key, "key_id", k.KeyID, "tenant", k.Tenant,
			"scopes", k.Scopes, "state", state)
	}
}
