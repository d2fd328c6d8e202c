package bind_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/errorsx"
)

// checkRow fails unless the response is a 2xx or one row of the catalogue
// rendered as the envelope.
func checkRow(t *testing.T, rec *httptest.ResponseRecorder, allowed ...int) envelope {
	t.Helper()
	if rec.Code < 400 {
		return envelope{}
	}
	if !slices.Contains(allowed, rec.Code) {
		t.Fatalf("got status %d, want one of %v (body %s)", rec.Code, allowed, rec.Body)
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		t.Fatalf("error body is not the envelope: %v: %q", err, rec.Body)
	}
	row, ok := errorsx.Lookup(errorsx.Code(env.Error.Code))
	if !ok || row.Status != rec.Code || row.Type != env.Error.Type {
		t.Fatalf("got (%d, %s, %s), not a row of the table", rec.Code, env.Error.Code, env.Error.Type)
	}
	if env.Error.Message == "" || !utf8.ValidString(env.Error.Message) {
		t.Fatalf("got message %q, want a non-empty UTF-8 sentence", env.Error.Message)
	}
	if env.Error.Param != nil && *env.Error.Param == "" {
		t.Fatalf("got an empty param member")
	}
	return env
}

// FuzzBind sends random bytes with a random Content-Type to the generation
// route (lenient and strict). Only 201, 400, 404 and 422 may come out, each
// as a row of the table, and a 201 must carry a request that meets every
// rule: the middleware never lets an invalid request through.
func FuzzBind(f *testing.F) {
	seeds := []struct {
		body, ct string
	}{
		{`{"model":"clipia-fast","prompt":"a cat"}`, "application/json"},
		{`{"model":"clipia-pro","prompt":"a","duration":45,"resolution":"4k"}`, "application/json; charset=utf-8"},
		{`{"model":"clipia-fast","prompt":"a","duration":"5"}`, "application/json"},
		{`{"model":"clipia-fast","prompt":"a","refs":[{"url":3}]}`, "application/json"},
		{`{"model":"clipia-fast","prompt":"a","options":{"fps":"x","y":1}}`, "application/vnd.x+json"},
		{`{"model":"clipia-ultra","prompt":"a"}`, "application/json"},
		{`{"model":"clipia-fast","prompt":"a"`, "application/json"},
		{`{"model":"clipia-fast"} {}`, "application/json"},
		{`[1,2,{"a":[]}]`, "application/json"},
		{`null`, "application/json"},
		{"", "text/plain"},
		{`model=x`, "application/x-www-form-urlencoded"},
		{`{}`, "application/json; charset=latin1"},
		{`{"model":"clipia-fast","prompt":"a"}`, "application/json; ==="},
		{"\xff\xfe{", ""},
	}
	for _, s := range seeds {
		f.Add([]byte(s.body), s.ct, false)
		f.Add([]byte(s.body), s.ct, true)
	}
	e := newTestServer(f)
	f.Fuzz(func(t *testing.T, body []byte, ct string, strict bool) {
		target := "/v1/generations"
		if strict {
			target = "/strict"
		}
		req := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		env := checkRow(t, rec, 400, 404, 422)
		if rec.Code >= 400 {
			// A 400 names at most the client's own key (param); a 404
			// quotes the model id the client sent.
			msg := env.Error.Message
			if env.Error.Param != nil {
				msg = strings.ReplaceAll(msg, *env.Error.Param, "")
			}
			if w, ok := decoderWords(msg); ok && rec.Code == http.StatusBadRequest {
				t.Fatalf("message %q speaks in the decoder's words (%q)", env.Error.Message, w)
			}
			return
		}
		if rec.Code != http.StatusCreated {
			t.Fatalf("got status %d, want 201 or an error", rec.Code)
		}
		var out struct {
			Request testGeneration `json:"request"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("success body: %v", err)
		}
		g := out.Request
		maxDur, res := 10, []string{"480p", "720p"}
		if g.Model == "clipia-pro" {
			maxDur, res = 60, []string{"720p", "1080p", "4k"}
		} else if g.Model != "clipia-fast" {
			t.Fatalf("accepted unknown model %q", g.Model)
		}
		switch {
		case g.Prompt == "" || utf8.RuneCountInString(g.Prompt) > 4000:
			t.Fatalf("accepted prompt of %d runes", utf8.RuneCountInString(g.Prompt))
		case g.Duration == nil || *g.Duration < 1 || *g.Duration > maxDur:
			t.Fatalf("accepted duration %v for %s", g.Duration, g.Model)
		case !slices.Contains(res, g.Resolution):
			t.Fatalf("accepted resolution %q for %s", g.Resolution, g.Model)
		}
	})
}

// FuzzBindParams binds random path values and query strings into the
// parameter type: only 200 and 400 may come out, and a 200 carries what
// the client sent.
func FuzzBindParams(f *testing.F) {
	for _, s := range [][2]string{
		{"7", "limit=20&tag=a&tag=b&ratio=1.5&verbose=true"},
		{"abc", ""},
		{"0", "limit=300"},
		{"", ""},
		{"1", "tag=n0t&verbose=maybe&ratio=wide"},
		{"-1", "limit=&ratio=%zz"},
		{"99999999999999999999", "limit=-1"},
	} {
		f.Add(s[0], s[1])
	}
	b, err := bind.New[testParams](bind.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, project, query string) {
		var got *testParams
		h := routeOf(b, func(w http.ResponseWriter, r *http.Request, v *testParams, _ *bind.Model) {
			got = v
			w.WriteHeader(http.StatusOK)
		})
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.RawQuery = query
		req.SetPathValue("project", project)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkRow(t, rec, 400)
		if rec.Code < 400 {
			if rec.Code != http.StatusOK {
				t.Fatalf("got status %d, want 200 or an error", rec.Code)
			}
			n, err := strconv.ParseInt(project, 10, strconv.IntSize)
			if got == nil || err != nil || n < 1 || int(n) != got.Project {
				t.Fatalf("path %q bound as %+v", project, got)
			}
		}
	})
}
