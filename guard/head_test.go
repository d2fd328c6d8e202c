package guard_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clipia/apiguard/guard"
)

func TestHeadWriter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		write  func(w http.ResponseWriter)
		status int
		length string
	}{
		{"body", func(w http.ResponseWriter) { _, _ = w.Write([]byte("hello")) }, 200, "5"},
		{"status and body", func(w http.ResponseWriter) { w.WriteHeader(201); _, _ = w.Write([]byte("hi")) }, 201, "2"},
		{"own length", func(w http.ResponseWriter) { w.Header().Set("Content-Length", "9"); _, _ = w.Write([]byte("hi")) }, 200, "9"},
		{"no body", func(w http.ResponseWriter) { w.WriteHeader(204) }, 204, ""},
		{"flushed", func(w http.ResponseWriter) { _, _ = w.Write([]byte("hi")); w.(http.Flusher).Flush() }, 200, ""},
		{"second status ignored", func(w http.ResponseWriter) { w.WriteHeader(202); w.WriteHeader(500) }, 202, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			hw := guard.NewHeadWriter(rec)
			tc.write(hw)
			hw.Finish()
			if rec.Code != tc.status || rec.Header().Get("Content-Length") != tc.length || rec.Body.Len() != 0 {
				t.Errorf("got %d %v %q, want %d Content-Length %q", rec.Code, rec.Header(), rec.Body, tc.status, tc.length)
			}
			if hw.Unwrap() != rec {
				t.Error("Unwrap")
			}
		})
	}
}
