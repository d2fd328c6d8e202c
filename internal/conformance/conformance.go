// Package conformance builds one app on each of apiguard's three front
// doors (Echo v4 through middleware, Echo v5 through echo5, net/http
// through nethttp) from one description, so that tests can send the same
// request to all three and demand the same status, headers and body bytes.
// Its own tests hold the table of the front doors' basics (unknown routes,
// HEAD, panics, every catalogue error, request ids, header limits); a guard
// adds its rows by adding its middlewares to a [Spec].
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

	"github.com/clipia/apiguard/echo5"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/middleware"
	"github.com/clipia/apiguard/nethttp"
	echo4 "github.com/labstack/echo/v4"
	echo5lib "github.com/labstack/echo/v5"
)

// Handler is a route's handler, written once for the three doors: it gets
// the door's http.ResponseWriter (Echo's *Response on the Echo doors) and
// request, and returns an error for the door to render.
type Handler func(w http.ResponseWriter, r *http.Request) error

// Guards are the same middlewares built for each door, e.g.
//
//	conformance.Guards{
//		Echo4:   []echo4.MiddlewareFunc{middleware.Must(middleware.Auth(cfg))},
//		Echo5:   []echo5.MiddlewareFunc{echo5.Must(echo5.Auth(cfg))},
//		NetHTTP: []func(http.Handler) http.Handler{nethttp.Must(nethttp.Auth(cfg))},
//	}
type Guards struct {
	Echo4   []echo4.MiddlewareFunc
	Echo5   []echo5lib.MiddlewareFunc
	NetHTTP []func(http.Handler) http.Handler
}

// Route is one route of the app.
type Route struct {
	// Method is the route's method ("GET"); HEAD is answered on every
	// GET route.
	Method string
	// Path is the route's path in ServeMux syntax ("/v1/items/{id}");
	// it is given to Echo as "/v1/items/:id". Paths under Spec.Group
	// include the group's prefix.
	Path string
	// Handler answers the route.
	Handler Handler
	// Guards run for this route only, after the group's.
	Guards Guards
}

// Spec describes the app built on each door.
type Spec struct {
	// Errors configures each door's renderer.
	Errors errorsx.HandlerConfig
	// SendRequestID sends Request-Id too (RequestIDConfig.SendRequestID).
	SendRequestID bool
	// MaxHeaderBytes installs the header limit for every route when not 0.
	MaxHeaderBytes int
	// Use runs for every request on the Echo doors (Echo's Use), and for
	// every route on net/http (around each route's handler, since
	// nethttp.Handler answers the unknown ones before anything runs).
	Use Guards
	// Group is the prefix of a group ("/v1") whose guards run for every
	// route under it (and, on the Echo doors, for every unknown path under
	// it, which each guard answers 404). Empty means no group.
	Group string
	// GroupGuards are the guards of Group.
	GroupGuards Guards
	// Routes are the app's routes.
	Routes []Route
}

// App is one door's app, served over real HTTP.
type App struct {
	Name   string // "echo4", "echo5" or "nethttp"
	Server *httptest.Server
}

// Build returns the three apps of s, served by httptest servers that the
// test's cleanup closes.
func Build(t testing.TB, s Spec) []App {
	t.Helper()
	apps := []App{
		{Name: "echo4", Server: httptest.NewServer(buildEcho4(s))},
		{Name: "echo5", Server: httptest.NewServer(buildEcho5(s))},
		{Name: "nethttp", Server: httptest.NewServer(buildNetHTTP(t, s))},
	}
	for _, a := range apps {
		t.Cleanup(a.Server.Close)
	}
	return apps
}

// echoPath turns a ServeMux path into Echo's syntax.
func echoPath(p string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(p, '{')
		if i < 0 {
			b.WriteString(p)
			return b.String()
		}
		j := strings.IndexByte(p[i:], '}')
		name := p[i+1 : i+j]
		b.WriteString(p[:i])
		if strings.HasSuffix(name, "...") {
			b.WriteString("*")
		} else {
			b.WriteString(":" + name)
		}
		p = p[i+j+1:]
	}
}

func buildEcho4(s Spec) *echo4.Echo {
	e := echo4.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = middleware.ErrorHandler(s.Errors)
	e.Pre(middleware.Must(middleware.Head(middleware.HeadConfig{})))
	e.Use(middleware.Must(middleware.RequestID(middleware.RequestIDConfig{SendRequestID: s.SendRequestID})))
	e.Use(middleware.Must(middleware.Recover(middleware.RecoverConfig{})))
	if s.MaxHeaderBytes != 0 {
		e.Use(middleware.Must(middleware.HeaderLimit(middleware.HeaderLimitConfig{MaxBytes: s.MaxHeaderBytes})))
	}
	e.Use(s.Use.Echo4...)
	var g *echo4.Group
	if s.Group != "" {
		g = e.Group(s.Group, s.GroupGuards.Echo4...)
	}
	for _, rt := range s.Routes {
		h := func(c echo4.Context) error { return rt.Handler(c.Response(), c.Request()) }
		if g != nil && strings.HasPrefix(rt.Path, s.Group) {
			g.Add(rt.Method, echoPath(strings.TrimPrefix(rt.Path, s.Group)), h, rt.Guards.Echo4...)
		} else {
			e.Add(rt.Method, echoPath(rt.Path), h, rt.Guards.Echo4...)
		}
	}
	return e
}

func buildEcho5(s Spec) *echo5lib.Echo {
	e := echo5lib.New()
	if s.Errors.Logger != nil {
		e.Logger = s.Errors.Logger // Echo's own complaints count as log records
	}
	e.HTTPErrorHandler = echo5.ErrorHandler(s.Errors)
	e.Pre(echo5.Must(echo5.Head(echo5.HeadConfig{})))
	e.Use(echo5.Must(echo5.RequestID(echo5.RequestIDConfig{SendRequestID: s.SendRequestID})))
	e.Use(echo5.Must(echo5.Recover(echo5.RecoverConfig{})))
	if s.MaxHeaderBytes != 0 {
		e.Use(echo5.Must(echo5.HeaderLimit(echo5.HeaderLimitConfig{MaxBytes: s.MaxHeaderBytes})))
	}
	e.Use(s.Use.Echo5...)
	var g *echo5lib.Group
	if s.Group != "" {
		g = e.Group(s.Group, s.GroupGuards.Echo5...)
	}
	for _, rt := range s.Routes {
		h := func(c *echo5lib.Context) error { return rt.Handler(c.Response(), c.Request()) }
		if g != nil && strings.HasPrefix(rt.Path, s.Group) {
			g.Add(rt.Method, echoPath(strings.TrimPrefix(rt.Path, s.Group)), h, rt.Guards.Echo5...)
		} else {
			e.Add(rt.Method, echoPath(rt.Path), h, rt.Guards.Echo5...)
		}
	}
	return e
}

func buildNetHTTP(t testing.TB, s Spec) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.Routes {
		var h http.Handler = nethttp.HandlerFunc(rt.Handler)
		h = chain(h, rt.Guards.NetHTTP)
		if s.Group != "" && strings.HasPrefix(rt.Path, s.Group) {
			h = chain(h, s.GroupGuards.NetHTTP)
		}
		h = chain(h, s.Use.NetHTTP)
		mux.Handle(rt.Method+" "+rt.Path, h)
	}
	var next http.Handler = mux
	if s.MaxHeaderBytes != 0 {
		next = nethttp.Must(nethttp.HeaderLimit(nethttp.HeaderLimitConfig{MaxBytes: s.MaxHeaderBytes}))(next)
	}
	h, err := nethttp.Handler(next, nethttp.Config{
		Errors:    s.Errors,
		RequestID: nethttp.RequestIDConfig{SendRequestID: s.SendRequestID},
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// chain wraps h in mws, the first outermost.
func chain(h http.Handler, mws []func(http.Handler) http.Handler) http.Handler {
	for _, mw := range slices.Backward(mws) {
		h = mw(h)
	}
	return h
}

// Request is one request of a table.
type Request struct {
	Method string
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
	r, err := http.NewRequest(req.Method, app.Server.URL+req.Path, body)
	if err != nil {
		t.Fatal(err)
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
