package bind_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/clipia/apiguard/bind"
)

type testNUL struct {
	Prompt string `json:"prompt"`
	Input  struct {
		Text string `json:"text"`
	} `json:"input"`
	Tags  []string          `json:"tags"`
	Meta  map[string]string `json:"meta"`
	Extra any               `json:"extra"`
	Raw   json.RawMessage   `json:"raw"`
	Name  string            `json:"-" query:"name"`
	ID    string            `json:"-" param:"id"`
}

// TestNULIsRefused: a string the bound value keeps that holds U+0000, which
// PostgreSQL cannot store, is a 400 invalid_request naming the field,
// wherever it comes from; with AllowNUL it binds.
func TestNULIsRefused(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("POST /nul/{id}", route(t, bind.Config{}, echoJSON[testNUL]))
	mux.Handle("POST /strict/{id}", route(t, bind.Config{Strict: true}, echoJSON[testNUL]))
	mux.Handle("POST /allow/{id}", route(t, bind.Config{AllowNUL: true}, echoJSON[testNUL]))
	tests := []struct {
		name, target, body string
		wantStatus         int
		wantParam          string
	}{
		{"top-level string", "/nul/1", `{"prompt":"a\u0000b"}`, 400, "prompt"},
		{"nested string", "/nul/1", `{"input":{"text":"\u0000"}}`, 400, "input.text"},
		{"list item", "/nul/1", `{"tags":["a","b\u0000"]}`, 400, "tags[1]"},
		{"map value", "/nul/1", `{"meta":{"k":"v\u0000"}}`, 400, "meta.k"},
		{"map key", "/nul/1", `{"meta":{"k\u0000":"v"}}`, 400, "meta"},
		{"inside any", "/nul/1", `{"extra":{"a":[1,"\u0000"]}}`, 400, "extra.a[1]"},
		{"inside raw JSON", "/nul/1", `{"raw":{"a":"\u0000"}}`, 400, "raw.a"},
		{"case-insensitive member", "/nul/1", `{"PROMPT":"\u0000"}`, 400, "prompt"},
		{"query parameter", "/nul/1?name=a%00b", `{}`, 400, "name"},
		{"path parameter", "/nul/a%00b", `{}`, 400, "id"},
		{"an escaped backslash is not NUL", "/nul/1", `{"prompt":"a\\u0000"}`, 200, ""},
		{"another escape is not NUL", "/nul/1", `{"prompt":"\u0001\u00000"}`, 400, "prompt"},
		{"an unknown member is dropped, no harm", "/nul/1", `{"other":"\u0000"}`, 200, ""},
		{"strict: the unknown member is the error", "/strict/1", `{"oth\u0000er":1}`, 400, "oth\x00er"},
		{"AllowNUL binds it", "/allow/1", `{"prompt":"a\u0000b"}`, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, env := serve(t, mux, jsonRequest(http.MethodPost, tt.target, tt.body))
			if rec.Code != tt.wantStatus {
				t.Fatalf("got status %d, want %d (body %s)", rec.Code, tt.wantStatus, rec.Body)
			}
			if rec.Code == http.StatusOK {
				return
			}
			if env.Error.Code != "invalid_request" {
				t.Errorf("got code %q, want invalid_request", env.Error.Code)
			}
			gotParam := ""
			if env.Error.Param != nil {
				gotParam = *env.Error.Param
			}
			if gotParam != tt.wantParam {
				t.Errorf("got param %q, want %q (message %q)", gotParam, tt.wantParam, env.Error.Message)
			}
		})
	}
}
