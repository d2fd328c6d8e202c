package frontdoor_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/frontdoor"
	"github.com/clipia/apiguard/internal/logtest"
)

// TestTracker: the tracker records the first final status a handler sends
// (1xx aside) and passes everything on.
func TestTracker(t *testing.T) {
	render := errorsx.NewRenderer(errorsx.HandlerConfig{})
	for _, tc := range []struct {
		name   string
		write  func(w http.ResponseWriter)
		status int // the tracker's
		code   int // the recorder's
	}{
		{"nothing", func(http.ResponseWriter) {}, 0, 200},
		{"status", func(w http.ResponseWriter) { w.WriteHeader(201) }, 201, 201},
		{"first status kept", func(w http.ResponseWriter) { w.WriteHeader(202); w.WriteHeader(500) }, 202, 202},
		{"body", func(w http.ResponseWriter) { _, _ = w.Write([]byte("hi")) }, 200, 200},
		{"1xx is not the status", func(w http.ResponseWriter) { w.WriteHeader(103) }, 0, 103},
		{"1xx then status", func(w http.ResponseWriter) { w.WriteHeader(103); w.WriteHeader(204) }, 204, 103},
		{"flush", func(w http.ResponseWriter) { w.(http.Flusher).Flush() }, 200, 200},
		{"flush through a ResponseController", func(w http.ResponseWriter) { _ = http.NewResponseController(w).Flush() }, 200, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tr := &frontdoor.Tracker{ResponseWriter: rec, Renderer: render}
			if tr.Status != 0 || tr.Renderer != render || tr.Unwrap() != rec {
				t.Fatalf("new tracker: status %d, renderer %p, writer %v", tr.Status, tr.Renderer, tr.Unwrap())
			}
			tc.write(tr)
			if tr.Status != tc.status || rec.Code != tc.code {
				t.Errorf("tracker status %d, sent %d; want %d, %d", tr.Status, rec.Code, tc.status, tc.code)
			}
		})
	}
}

// TestTrackerHijack: a hijacked connection counts as written; a writer
// that cannot be hijacked says so.
func TestTrackerHijack(t *testing.T) {
	render := errorsx.NewRenderer(errorsx.HandlerConfig{})
	tr := &frontdoor.Tracker{ResponseWriter: httptest.NewRecorder(), Renderer: render}
	if _, _, err := tr.Hijack(); err == nil || tr.Status != 0 {
		t.Errorf("recorder: got %v, status %d; want an error and no status", err, tr.Status)
	}

	status := make(chan int, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr := &frontdoor.Tracker{ResponseWriter: w, Renderer: render}
		conn, rw, err := http.NewResponseController(tr).Hijack()
		if err != nil {
			status <- -1
			return
		}
		status <- tr.Status
		_, _ = rw.WriteString("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
		_ = rw.Flush()
		_ = conn.Close()
	}))
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := <-status; got != http.StatusSwitchingProtocols || res.StatusCode != http.StatusNoContent {
		t.Errorf("hijacked: tracker status %d, client got %d; want 101, 204", got, res.StatusCode)
	}
}

// unwrapper is a writer a guard or a framework puts over the tracker.
type unwrapper struct{ http.ResponseWriter }

func (u *unwrapper) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// loop unwraps to itself.
type loop struct{ http.ResponseWriter }

func (l *loop) Unwrap() http.ResponseWriter { return l }

func TestTrackerOf(t *testing.T) {
	rec := httptest.NewRecorder()
	tr := &frontdoor.Tracker{ResponseWriter: rec, Renderer: errorsx.NewRenderer(errorsx.HandlerConfig{})}
	for _, tc := range []struct {
		name string
		w    http.ResponseWriter
		want *frontdoor.Tracker
	}{
		{"the tracker", tr, tr},
		{"under wrappers", &unwrapper{&unwrapper{tr}}, tr},
		{"none", rec, nil},
		{"none under a wrapper", &unwrapper{rec}, nil},
		{"a writer that unwraps to itself", &loop{rec}, nil},
	} {
		if got := frontdoor.TrackerOf(tc.w); got != tc.want {
			t.Errorf("%s: got %p, want %p", tc.name, got, tc.want)
		}
	}
}

// TestError: a door without an error handler of its own renders with the
// renderer of the request's tracker, under any wrappers; without a tracker
// with the zero configuration; never over a response already written (it
// is logged once instead); never an error rendered already.
type coder int

func (c coder) Error() string   { return fmt.Sprint(int(c)) }
func (c coder) StatusCode() int { return int(c) }

func TestError(t *testing.T) {
	logs := &logtest.Buffer{}
	render := errorsx.NewRenderer(errorsx.HandlerConfig{Logger: logs.Logger(), Realm: "door"})
	r := httptest.NewRequest(http.MethodGet, "/v1/models", nil)

	rec := httptest.NewRecorder()
	tr := &frontdoor.Tracker{ResponseWriter: rec, Renderer: render}
	frontdoor.Error(&unwrapper{tr}, r, "/v1/models", errorsx.InvalidAPIKey())
	if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != `Bearer realm="door"` || tr.Status != 401 {
		t.Errorf("tracked: got %d %q (tracker %d), want 401 with the door's realm", rec.Code, rec.Header().Get("WWW-Authenticate"), tr.Status)
	}
	recs := logs.Take(t)
	if len(recs) != 1 || recs[0]["route"] != "/v1/models" || recs[0]["level"] != "DEBUG" {
		t.Errorf("tracked: got log %v, want one DEBUG record with the route", recs)
	}

	rec = httptest.NewRecorder()
	frontdoor.Error(rec, r, "", coder(405))
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), `"code":"not_found"`) || rec.Header().Get("Allow") != "" {
		t.Errorf("untracked 405: got %d %s, want the 404 row", rec.Code, rec.Body)
	}

	rec = httptest.NewRecorder()
	tr = &frontdoor.Tracker{ResponseWriter: rec, Renderer: render}
	_, _ = tr.Write([]byte("partial"))
	frontdoor.Error(tr, r, "/v1/models", errors.New("stream broke"))
	if rec.Code != 200 || rec.Body.String() != "partial" {
		t.Errorf("written: got %d %q, want the response untouched", rec.Code, rec.Body)
	}
	if recs := logs.Take(t); len(recs) != 1 || recs[0]["level"] != "ERROR" || recs[0]["msg"] != "error after response was committed" {
		t.Errorf("written: got log %v, want one ERROR record", recs)
	}

	for _, err := range []error{nil, errorsx.Rendered(errorsx.NotFound())} {
		rec = httptest.NewRecorder()
		tr = &frontdoor.Tracker{ResponseWriter: rec, Renderer: render}
		frontdoor.Error(tr, r, "/v1/models", err)
		if rec.Body.Len() != 0 || tr.Status != 0 {
			t.Errorf("%v: got %d %q, want nothing written", err, rec.Code, rec.Body)
		}
	}
	if recs := logs.Take(t); len(recs) != 0 {
		t.Errorf("nil and rendered errors: got log %v, want none", recs)
	}
}

// TestWrite: the renderer writes a response not yet committed, and only
// logs an error that arrives after the response was committed.
func TestWrite(t *testing.T) {
	logs := &logtest.Buffer{}
	render := errorsx.NewRenderer(errorsx.HandlerConfig{Logger: logs.Logger()})
	r := httptest.NewRequest(http.MethodGet, "/v1/x", nil)
	r.Header.Set(errorsx.HeaderRequestID, "req_1")

	rec := httptest.NewRecorder()
	frontdoor.Write(render, rec, r, "/v1/x", false, 0, errorsx.RateLimitExceeded())
	if rec.Code != 429 || rec.Header().Get(errorsx.HeaderRequestID) != "req_1" || !strings.Contains(rec.Body.String(), `"code":"rate_limit_exceeded"`) {
		t.Errorf("not committed: got %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if recs := logs.Take(t); len(recs) != 1 || recs[0]["route"] != "/v1/x" {
		t.Errorf("not committed: got log %v, want one record with the route", recs)
	}

	rec = httptest.NewRecorder()
	rec.WriteHeader(200)
	frontdoor.Write(render, rec, r, "/v1/x", true, 200, errorsx.Internal())
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("committed: got %d %q, want the response untouched", rec.Code, rec.Body)
	}
	if recs := logs.Take(t); len(recs) != 1 || recs[0]["level"] != "ERROR" {
		t.Errorf("committed: got log %v, want one ERROR record", recs)
	}
}
