// Package conformance sends the same requests to one app built on every
// front door of apiguard (the doors of internal/doors: Echo v4, Echo v5,
// gin, net/http, chi) and demands the same status, headers and body bytes,
// request ids and dates aside. Its own tests hold the table of the front
// doors' basics (unknown routes, odd methods, HEAD, panics, every catalogue
// error, request ids, header limits, logging once); a guard adds its rows
// by adding itself to a doors.Spec.
package conformance

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/doors"
)

// App is one door's app, served over real HTTP.
type App struct {
	Name   string // the door's name: echo4, echo5, gin, nethttp, chi
	Server *httptest.Server
}

// Build returns the app of s on every door of doors.All(), in its order,
// each served by an httptest server that the test's cleanup closes. As the
// reference server's, the servers hand "OPTIONS *" to the app
// (http.Server.DisableGeneralOptionsHandler), which net/http would answer
// 200 itself, without the door.
func Build(t testing.TB, s doors.Spec) []App {
	t.Helper()
	var apps []App
	for _, d := range doors.All() {
		if d.New == nil {
			t.Fatalf("door %s is not built (doors.%s.New is nil)", d.Name, d.Name)
		}
		srv := httptest.NewUnstartedServer(d.New(t, s))
		srv.Config.DisableGeneralOptionsHandler = true
		srv.Start()
		t.Cleanup(srv.Close)
		apps = append(apps, App{Name: d.Name, Server: srv})
	}
	return apps
}

// Request is one request of a table.
type Request struct {
	Method string
	// Path is the request target: a path with its query, "*"
	// (asterisk-form) or "http://host/path" (absolute-form, as a client
	// sends it to a proxy).
	Path   string
	Header http.Header
	Body   string
}

// Response is an answer with the parts that must agree across doors: the
// status, every header but Date (X-Request-Id and Request-Id normalised by
// [Normalise]), and the body bytes.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends req to app and returns the response, normalised.
func Do(t testing.TB, app App, req Request) Response {
	t.Helper()
	var body io.Reader
	if req.Body != "" {
		body = strings.NewReader(req.Body)
	}
	target := app.Server.URL + req.Path
	if req.Path == "*" || strings.HasPrefix(req.Path, "http://") {
		target = app.Server.URL
	}
	r, err := http.NewRequest(req.Method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case req.Path == "*":
		r.URL.Opaque = "*" // the request line's target, as URL.RequestURI writes it
	case strings.HasPrefix(req.Path, "http://"):
		r.URL.Opaque = strings.TrimPrefix(req.Path, "http:") // "//host/path": absolute-form
	}
	for k, vs := range req.Header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	res, err := app.Server.Client().Do(r)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", app.Name, req.Method, req.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s: %s %s: reading the body: %v", app.Name, req.Method, req.Path, err)
	}
	out := Response{Status: res.StatusCode, Header: res.Header, Body: b}
	if err := Normalise(&out, r.Header.Get(errorsx.HeaderRequestID)); err != nil {
		t.Errorf("%s: %s %s: %v", app.Name, req.Method, req.Path, err)
	}
	return out
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// Normalise drops Date and replaces a new request id (a UUID, when the
// request sent no sane id) in X-Request-Id and Request-Id with "<new>". It
// returns an error when the ids break the contract: no X-Request-Id, a sane
// incoming id not echoed, a new id that is not a UUID, or a Request-Id
// that differs from X-Request-Id.
func Normalise(res *Response, sent string) error {
	h := res.Header
	h.Del("Date")
	id := h.Get(errorsx.HeaderRequestID)
	switch {
	case id == "":
		return fmt.Errorf("no %s", errorsx.HeaderRequestID)
	case errorsx.ValidRequestID(sent) && id != sent:
		return fmt.Errorf("%s %q, want the request's %q", errorsx.HeaderRequestID, id, sent)
	case !errorsx.ValidRequestID(sent):
		if !uuidRE.MatchString(id) {
			return fmt.Errorf("%s %q, want a new UUID", errorsx.HeaderRequestID, id)
		}
		h.Set(errorsx.HeaderRequestID, "<new>")
	}
	if s := h.Values(errorsx.HeaderRequestIDStripe); len(s) > 0 {
		if len(s) != 1 || s[0] != id {
			return fmt.Errorf("%s %q, want %q", errorsx.HeaderRequestIDStripe, s, id)
		}
		h.Set(errorsx.HeaderRequestIDStripe, h.Get(errorsx.HeaderRequestID))
	}
	return nil
}

// Diff describes how got differs from want, or returns "".
func Diff(got, want Response) string {
	var b strings.Builder
	if got.Status != want.Status {
		fmt.Fprintf(&b, "status %d, want %d\n", got.Status, want.Status)
	}
	keys := make([]string, 0, len(got.Header)+len(want.Header))
	for k := range got.Header {
		keys = append(keys, k)
	}
	for k := range want.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range slices.Compact(keys) {
		if g, w := got.Header[k], want.Header[k]; !slices.Equal(g, w) {
			fmt.Fprintf(&b, "header %s: %q, want %q\n", k, g, w)
		}
	}
	if !bytes.Equal(got.Body, want.Body) {
		fmt.Fprintf(&b, "body %q, want %q\n", got.Body, want.Body)
	}
	return b.String()
}

// GoldenHeaders are the headers a golden file of testdata/golden records,
// in its order.
var GoldenHeaders = []string{"Content-Length", "Content-Type", "Request-Id", "Retry-After", "Vary",
	"WWW-Authenticate", "X-Request-Id", "X-Should-Retry"}

// Golden formats res as the golden files of testdata/golden do: the status
// line, [GoldenHeaders] in order, a blank line, the body.
func Golden(res Response) string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d\n", res.Status)
	for _, k := range GoldenHeaders {
		for _, v := range res.Header.Values(k) {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	b.WriteString("\n")
	b.Write(res.Body)
	b.WriteString("\n")
	return b.String()
}
