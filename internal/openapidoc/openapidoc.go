// Package openapidoc completes the hand-written OpenAPI documents of
// apiguard's tests with the error components of errorsx.OpenAPI, so a test
// document names its paths and refers to the catalogue's responses
// ("#/components/responses/NotFound") without copying them. Only tests
// import it; once the openapi package generates an app's whole document,
// tests use that instead.
package openapidoc

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/clipia/apiguard/errorsx"
)

// WithErrors returns the document in file with every component of
// errorsx.OpenAPI(cfg) added under components, where the document has no
// component of that kind and name already.
func WithErrors(file string, cfg errorsx.OpenAPIConfig) ([]byte, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var doc, errs map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := json.Unmarshal(errorsx.OpenAPI(cfg), &errs); err != nil {
		return nil, err
	}
	comps, _ := doc["components"].(map[string]any)
	if comps == nil {
		comps = map[string]any{}
		doc["components"] = comps
	}
	for kind, v := range errs["components"].(map[string]any) {
		into, _ := comps[kind].(map[string]any)
		if into == nil {
			into = map[string]any{}
			comps[kind] = into
		}
		for name, c := range v.(map[string]any) {
			if _, ok := into[name]; !ok {
				into[name] = c
			}
		}
	}
	return json.Marshal(doc)
}
