package errorsx_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/labstack/echo/v4"
)

// problem+json only when Accept explicitly prefers it; ties go to the
// envelope.
func TestProblemJSONNegotiation(t *testing.T) {
	tests := []struct {
		accept string
		want   bool // problem+json
	}{
		{"", false},
		{"application/json", false},
		{"*/*", false},
		{"application/problem+json", true},
		{"APPLICATION/Problem+JSON", true},
		{"application/problem+json; charset=utf-8", true},
		{"application/problem+json, application/json", false},
		{"application/json, application/problem+json", false},
		{"application/problem+json;q=0.9, application/json;q=0.8", true},
		{"application/json;q=0.9, application/problem+json", true},
		{"application/problem+json;q=0.5, application/json", false},
		{"application/problem+json, */*", false},
		{"application/problem+json, */*;q=0.1", true},
		{"application/problem+json;q=0.5, application/*;q=0.4", true},
		{"application/problem+json;q=0.5, application/*;q=0.9, */*;q=0.1", false},
		{"*/*;q=0.8, application/json;q=0.1, application/problem+json;q=0.5", true},
		{"application/json, application/problem+json;q=1.0, application/json;q=0.2", false},
		{"application/problem+json;q=0", false},
		{"application/problem+json;q=0, application/json;q=0", false},
		{"application/json;q=0, application/problem+json;q=0.1", true},
		{"application/problem+json;q=abc", false},
		{"application/problem+json;q=2", false},
		{"application/problem+json;q=-1", false},
		{"application/problem+json;q=NaN", false},
		{"text/html, application/problem+json", true},
		{"application/problem+xml", false},
		{"application/problem+jsonx", false},
		{",,;;,application/problem+json;;q=1;", true},
	}
	for _, tc := range tests {
		t.Run(tc.accept, func(t *testing.T) {
			e := newEcho(errorsx.HandlerConfig{ProblemJSON: true}, func() error {
				return errorsx.RateLimitExceeded().WithRetryAfter(2 * time.Second)
			})
			req := httptest.NewRequest(http.MethodGet, "/fail", nil)
			req.Header.Set(echo.HeaderAccept, tc.accept)
			rec := serve(e, req)
			ct := rec.Header().Get(echo.HeaderContentType)
			if got := ct == errorsx.ContentTypeProblem; got != tc.want {
				t.Fatalf("got Content-Type %q, want problem+json %v", ct, tc.want)
			}
			if tc.want {
				if _, err := checkProblem(rec.Body.Bytes()); err != nil {
					t.Error(err)
				}
			} else if _, _, err := checkRow(rec); err != nil {
				t.Error(err)
			}
		})
	}
}

// Without ProblemJSON the envelope is sent whatever the client asks for.
func TestProblemJSONOffByDefault(t *testing.T) {
	rec := renderErr(t, errorsx.HandlerConfig{}, errorsx.NotFound(), "Accept", "application/problem+json")
	if _, _, err := checkRow(rec); err != nil {
		t.Fatal(err)
	}
}

// The problem document of every row carries the same status and headers as
// the envelope, and the same code, param and message.
func TestProblemJSONEveryRow(t *testing.T) {
	for _, tc := range constructors {
		t.Run(string(tc.code), func(t *testing.T) {
			err := tc.new().WithParam("input.duration").WithRetryAfter(1500 * time.Millisecond)
			cfg := errorsx.HandlerConfig{ProblemJSON: true}
			hdr := []string{"Authorization", "Bearer k", errorsx.HeaderRequestID, "req-1"}
			env := renderErrRequestID(t, cfg, err, hdr...)
			prob := renderErrRequestID(t, cfg, err, append(hdr, "Accept", "application/problem+json")...)

			if prob.Code != env.Code {
				t.Errorf("got status %d, want %d as for the envelope", prob.Code, env.Code)
			}
			for _, k := range []string{errorsx.HeaderRequestID, errorsx.HeaderRequestIDStripe, errorsx.HeaderShouldRetry,
				errorsx.HeaderRetryAfter, errorsx.HeaderWWWAuthenticate} {
				if g, w := prob.Header().Get(k), env.Header().Get(k); g != w {
					t.Errorf("%s: got %q, want %q as for the envelope", k, g, w)
				}
			}
			p, perr := checkProblem(prob.Body.Bytes())
			if perr != nil {
				t.Fatal(perr)
			}
			row := rowFor(t, string(tc.code))
			want := problem{Type: "urn:apiguard:error:" + string(row.Code), Title: row.Title, Status: row.Status,
				Detail: row.Message, Code: string(row.Code), Param: "input.duration"}
			if p != want {
				t.Errorf("got %+v, want %+v", p, want)
			}
		})
	}
}

func TestProblemTypeBase(t *testing.T) {
	cfg := errorsx.HandlerConfig{ProblemJSON: true, ProblemTypeBase: "https://docs.clipia.ai/errors#"}
	rec := renderErr(t, cfg, errorsx.InsufficientCredits(), "Accept", "application/problem+json")
	p, err := checkProblem(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://docs.clipia.ai/errors#insufficient_credits"; p.Type != want {
		t.Errorf("got type %q, want %q", p.Type, want)
	}
}

// With ProblemJSON on, the body depends on Accept, so every error response
// says Vary: Accept (once, next to what the app already varies on); with it
// off, the renderer adds no Vary.
func TestProblemJSONVaryAccept(t *testing.T) {
	tests := []struct {
		name    string
		problem bool
		preset  []string
		want    []string
	}{
		{"off", false, nil, nil},
		{"on", true, nil, []string{"Accept"}},
		{"on, app varies on encoding", true, []string{"Accept-Encoding"}, []string{"Accept-Encoding", "Accept"}},
		{"on, already varies on accept", true, []string{"Origin, accept"}, []string{"Origin, accept"}},
		{"on, varies on everything", true, []string{"*"}, []string{"*"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEcho(errorsx.HandlerConfig{ProblemJSON: tc.problem}, nil)
			e.GET("/x", func(c echo.Context) error {
				for _, v := range tc.preset {
					c.Response().Header().Add(echo.HeaderVary, v)
				}
				return errorsx.NotFound()
			})
			rec := serve(e, httptest.NewRequest(http.MethodGet, "/x", nil))
			if got := rec.Header().Values(echo.HeaderVary); !slices.Equal(got, tc.want) {
				t.Errorf("got Vary %q, want %q", got, tc.want)
			}
		})
	}
}
