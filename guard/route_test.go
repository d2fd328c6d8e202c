package guard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/internal/alloctest"
)

// TestTemplate: every router's spelling of a route is one canonical
// template, and the canonical template is its own template.
func TestTemplate(t *testing.T) {
	for _, tc := range []struct {
		router, pattern, want string
	}{
		{"none", "", ""},
		{"any", "/v1/models", "/v1/models"},
		{"any", "/", "/"},
		{"canonical", "/v1/generations/{id}", "/v1/generations/{id}"},
		{"echo", "/v1/generations/:id", "/v1/generations/{id}"},
		{"echo", "/v1/:a/x/:b", "/v1/{a}/x/{b}"},
		{"echo", "/static/*", "/static/{*}"},
		{"echo", "/v1/models/", "/v1/models/"},
		{"gin", "/v1/generations/:id", "/v1/generations/{id}"},
		{"gin", "/static/*path", "/static/{path}"},
		{"servemux", "GET /v1/generations/{id}", "/v1/generations/{id}"},
		{"servemux", "POST /v1/generations", "/v1/generations"},
		{"servemux", "GET api.example.com/v1/models/{id}", "/v1/models/{id}"},
		{"servemux", "api.example.com/v1/models", "/v1/models"},
		{"servemux", "/static/{p...}", "/static/{p}"},
		{"servemux", "GET /files/{path...}", "/files/{path}"},
		{"servemux", "/v1/{$}", "/v1/"},
		{"servemux", "GET /{$}", "/"},
		{"chi", "/v1/files/{id:[0-9]+}", "/v1/files/{id}"},
		{"chi", "/v1/files/{id:[0-9]{3}}", "/v1/files/{id}"},
		{"chi", "/v1/{org}/files/{id}", "/v1/{org}/files/{id}"},
		{"chi", "/static/*", "/static/{*}"},
		{"chi", "/{month}-{day}-{year}", "/{month}-{day}-{year}"},
	} {
		got := guard.Template(tc.pattern)
		if got != tc.want {
			t.Errorf("%s: Template(%q) = %q, want %q", tc.router, tc.pattern, got, tc.want)
		}
		if again := guard.Template(got); again != got {
			t.Errorf("%s: Template(%q) = %q, want the canonical template unchanged", tc.router, got, again)
		}
	}
}

// TestTemplateAllocs: a door calls Template per request; once a pattern
// has been seen, it allocates nothing.
func TestTemplateAllocs(t *testing.T) {
	for _, p := range []string{"/v1/generations/:id", "GET /v1/models/{id}", "/v1/models"} {
		guard.Template(p)
		if n := alloctest.PerRun(100, func() { guard.Template(p) }); n != 0 {
			t.Errorf("Template(%q): %v allocations per call, want 0", p, n)
		}
	}
}

// request returns a request for the request-target target, as a server
// parses it.
func request(tb testing.TB, target string) *http.Request {
	tb.Helper()
	u, err := url.ParseRequestURI(target)
	if err != nil {
		tb.Fatalf("%q: %v", target, err)
	}
	return &http.Request{Method: http.MethodGet, URL: u, RequestURI: target, Header: http.Header{}}
}

// TestCleanPath: the one reading of a path. An odd path (an empty, "." or
// ".." segment, spelled plainly or percent-encoded) matches no route;
// percent-encoded unreserved characters are the characters; other escapes
// stay escaped, their hex upper-cased.
func TestCleanPath(t *testing.T) {
	for _, tc := range []struct {
		target    string
		ok        bool
		path, raw string // the URL's Path and RawPath after
	}{
		{"/v1/models", true, "/v1/models", ""},
		{"/", true, "/", ""},
		{"/v1/models/", true, "/v1/models/", ""}, // a trailing slash is a path of its own
		{"/v1/models/clipia-fast", true, "/v1/models/clipia-fast", ""},
		{"/v1/a.b/..c/.d./~e", true, "/v1/a.b/..c/.d./~e", ""}, // dots inside a segment are letters

		{"//v1/models", false, "", ""},
		{"/v1//models", false, "", ""},
		{"/v1/models//", false, "", ""},
		{"/./v1/models", false, "", ""},
		{"/v1/./models", false, "", ""},
		{"/v1/models/.", false, "", ""},
		{"/v1/../v1/models", false, "", ""},
		{"/../v1/models", false, "", ""},
		{"/v1/models/..", false, "", ""},
		{"/v1/%2e%2e/v1/models", false, "", ""},
		{"/v1/%2E%2E/v1/models", false, "", ""},
		{"/v1/.%2e/v1/models", false, "", ""},
		{"/v1/%2e/models", false, "", ""},
		{"/v1/%2e%2e", false, "", ""},
		{"*", false, "", ""},

		{"/%761/models", true, "/v1/models", ""},
		{"/v1/mod%65ls", true, "/v1/models", ""},
		{"/v1/mod%45ls", true, "/v1/modEls", ""},
		{"/v1/%7euser/%2D%5F", true, "/v1/~user/-_", ""},
		{"/v1/models%2Fx", true, "/v1/models/x", "/v1/models%2Fx"}, // %2F is not a slash: one segment
		{"/v1/models%2fx", true, "/v1/models/x", "/v1/models%2Fx"}, // lower-case hex normalised
		{"/v1/a%2f%76", true, "/v1/a/v", "/v1/a%2Fv"},
		{"/v1/a%2F..%2Fb", true, "/v1/a/../b", "/v1/a%2F..%2Fb"}, // one segment, not a dot segment
		{"/v1/a%20b", true, "/v1/a b", ""},
		// An escape the default encoding writes the same needs no RawPath:
		// Echo and chi route on RawPath and would keep it escaped in a path
		// parameter, where ServeMux and gin decode it.
		{"/v1/models/%c3%a9", true, "/v1/models/é", ""},
		{"/v1/models/%ff", true, "/v1/models/\xff", ""},
		{"/v1/%c3%a9%2fx", true, "/v1/é/x", "/v1/%C3%A9%2Fx"},
		{"/v1/100%25", true, "/v1/100%", ""},
		// A literal "%" is not an escape: "%2541" is the three characters
		// "%41", never "A" (no second decoding).
		{"/v1/%2541", true, "/v1/%41", ""},
		{"/%25761/models", true, "/%761/models", ""},
	} {
		r := request(t, tc.target)
		before := *r.URL
		ok := guard.CleanPath(r)
		if ok != tc.ok {
			t.Errorf("CleanPath(%q) = %v, want %v", tc.target, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		if r.URL.Path != tc.path || r.URL.RawPath != tc.raw {
			t.Errorf("CleanPath(%q): Path %q RawPath %q, want %q %q (before: %q %q)",
				tc.target, r.URL.Path, r.URL.RawPath, tc.path, tc.raw, before.Path, before.RawPath)
		}
	}
}

// TestCleanPathAllocs: an ordinary path costs nothing.
func TestCleanPathAllocs(t *testing.T) {
	for _, target := range []string{"/v1/models", "/v1/generations/gen_123", "/v1/models%2Fx", "//x"} {
		r := request(t, target)
		guard.CleanPath(r)
		if n := alloctest.PerRun(100, func() { guard.CleanPath(r) }); n != 0 {
			t.Errorf("CleanPath(%q): %v allocations per call, want 0", target, n)
		}
	}
}

// segments splits an escaped path into its segments, each unescaped.
func segments(tb testing.TB, escaped string) []string {
	tb.Helper()
	parts := strings.Split(escaped, "/")
	for i, p := range parts {
		s, err := url.PathUnescape(p)
		if err != nil {
			tb.Fatalf("escaped path %q: segment %q: %v", escaped, p, err)
		}
		parts[i] = s
	}
	return parts
}

// FuzzCleanPath: CleanPath never panics; it is idempotent (cleaning a
// cleaned path changes nothing and gives the same answer); a path it
// accepts has no empty inner segment and no dot segment, however spelled;
// it never changes what a segment says (the segments decode to the same
// values before and after); and Path is always RawPath decoded.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/v1/models", "/", "//x", "/./", "/../", "/v1/%2e%2e/x", "/%761/models",
		"/v1/mod%65ls", "/v1/a%2Fb", "/v1/a%2fb", "/v1/models/", "/v1/%2541", "/%25761/models", "/a%2F..%2Fb",
		"/v1/%zz", "/v1/%", "/v1/%4", "/v1/a%20b", "/é", "/v1/%C3%A9", "*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		r := &http.Request{Method: http.MethodGet, URL: u, RequestURI: target, Header: http.Header{}}
		beforeEsc := u.EscapedPath()
		ok := guard.CleanPath(r)
		path, raw := r.URL.Path, r.URL.RawPath

		if again := guard.CleanPath(r); again != ok || r.URL.Path != path || r.URL.RawPath != raw {
			t.Fatalf("%q: not idempotent: %v %q %q, then %v %q %q", target, ok, path, raw, again, r.URL.Path, r.URL.RawPath)
		}
		if raw != "" {
			if dec, err := url.PathUnescape(raw); err != nil || dec != path {
				t.Fatalf("%q: RawPath %q decodes to %q (%v), Path is %q", target, raw, dec, err, path)
			}
		}
		if !ok {
			return
		}
		esc := r.URL.EscapedPath()
		if !strings.HasPrefix(esc, "/") {
			t.Fatalf("%q: accepted %q, which does not start with /", target, esc)
		}
		after := segments(t, esc)
		for i, s := range after[1:] {
			if s == "." || s == ".." || (s == "" && i+2 < len(after)) {
				t.Fatalf("%q: accepted %q, which has the segment %q", target, esc, s)
			}
		}
		before := segments(t, beforeEsc)
		if len(before) != len(after) {
			t.Fatalf("%q: %d segments became %d (%q → %q)", target, len(before), len(after), beforeEsc, esc)
		}
		for i := range before {
			if before[i] != after[i] {
				t.Fatalf("%q: segment %q became %q (%q → %q)", target, before[i], after[i], beforeEsc, esc)
			}
		}
	})
}
