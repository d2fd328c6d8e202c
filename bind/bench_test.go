package bind_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clipia/apiguard/bind"
	"github.com/go-playground/validator/v10"
)

// benchRequest is the reference server's generation request.
type benchRequest struct {
	Model      string `json:"model" validate:"required"`
	Prompt     string `json:"prompt" validate:"required,min=1,max=4000"`
	Duration   *int   `json:"duration" validate:"omitempty,min=1"`
	Resolution string `json:"resolution" validate:"omitempty,oneof=480p 720p 1080p 4k"`
}

var benchBody = []byte(`{"model":"clipia-fast","prompt":"a cat riding a skateboard through a rainy neon city, cinematic, 35mm","duration":8,"resolution":"720p"}`)

// BenchmarkBind binds and validates the reference server's generation
// request: with a Binder (its own validator: the tags compiled), with a
// Binder given a validator of the user's (every value through
// validator/v10), and as a handler would by hand, json.Decoder plus
// validator.Struct.
func BenchmarkBind(b *testing.B) {
	own, err := bind.New[benchRequest](bind.Config{})
	if err != nil {
		b.Fatal(err)
	}
	users, err := bind.New[benchRequest](bind.Config{Validator: bind.NewValidator()})
	if err != nil {
		b.Fatal(err)
	}
	v := validator.New()
	for _, c := range []struct {
		name string
		do   func(w http.ResponseWriter, r *http.Request) error
	}{
		{"Binder", func(w http.ResponseWriter, r *http.Request) error { _, _, err := own.Bind(w, r, nil); return err }},
		{"Binder-validator", func(w http.ResponseWriter, r *http.Request) error { _, _, err := users.Bind(w, r, nil); return err }},
		{"json+validator", func(w http.ResponseWriter, r *http.Request) error {
			var req benchRequest
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				return err
			}
			return v.Struct(&req)
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			start := cpuTime()
			defer func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op") }()
			b.RunParallel(func(pb *testing.PB) {
				rd := bytes.NewReader(benchBody)
				body := io.NopCloser(rd)
				r := httptest.NewRequest(http.MethodPost, "/v1/generations", nil)
				r.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				for pb.Next() {
					rd.Reset(benchBody)
					r.Body, r.ContentLength = body, int64(len(benchBody))
					if err := c.do(w, r); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
