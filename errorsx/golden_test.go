package errorsx_test

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/labstack/echo/v4"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const goldenDir = "../testdata/golden"

// goldenHeaders are the response headers a golden file records, when present.
var goldenHeaders = []string{
	echo.HeaderContentLength,
	echo.HeaderContentType,
	errorsx.HeaderRequestIDStripe,
	errorsx.HeaderRetryAfter,
	echo.HeaderVary,
	errorsx.HeaderWWWAuthenticate,
	errorsx.HeaderRequestID,
	errorsx.HeaderShouldRetry,
}

// goldenCases is one case per row of the catalogue, plus problem+json.
var goldenCases = []struct {
	file   string
	err    error
	header [2]string
}{
	{file: "400_invalid_request.http", err: errorsx.InvalidRequest().WithParam("prompt").WithMessage("prompt is required")},
	{file: "401_invalid_api_key.http", err: errorsx.InvalidAPIKey(), header: [2]string{"Authorization", "Bearer sk_test_unknown"}},
	{file: "402_insufficient_credits.http", err: errorsx.InsufficientCredits()},
	{file: "403_insufficient_scope.http", err: errorsx.InsufficientScope().WithMessage("This API key lacks the generations:write scope.")},
	{file: "404_not_found.http", err: errorsx.NotFound()},
	{file: "409_idempotency_key_reuse.http", err: errorsx.IdempotencyKeyReuse()},
	{file: "409_request_in_progress.http", err: errorsx.RequestInProgress().WithRetryAfter(2 * time.Second)},
	{file: "422_model_input_invalid.http", err: errorsx.ModelInputInvalid().WithParam("duration").WithMessage("duration must be at most 10 for clipia-fast")},
	{file: "429_rate_limit_exceeded.http", err: errorsx.RateLimitExceeded().WithRetryAfter(1500 * time.Millisecond)},
	{file: "500_internal_error.http", err: errors.New("dial tcp 10.0.0.7:6379: connect: connection refused")},
	{file: "503_service_unavailable.http", err: errorsx.ServiceUnavailable().WithRetryAfter(time.Second)},
	{file: "problem_422_model_input_invalid.http", err: errorsx.ModelInputInvalid().WithParam("duration").WithMessage("duration must be at most 10 for clipia-fast"),
		header: [2]string{echo.HeaderAccept, "application/problem+json"}},
}

// formatResponse renders a response as the golden format: the status line,
// the recorded headers in a fixed order, a blank line, the exact body.
func formatResponse(rec *httptest.ResponseRecorder) string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d\n", rec.Code)
	for _, k := range goldenHeaders {
		for _, v := range rec.Header().Values(k) {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	b.WriteString("\n")
	b.WriteString(rec.Body.String())
	b.WriteString("\n")
	return b.String()
}

// TestGolden compares each row's response, byte for byte, with its golden
// file. Run with -update to rewrite them after a deliberate change.
func TestGolden(t *testing.T) {
	seen := map[errorsx.Code]bool{}
	for _, tc := range goldenCases {
		t.Run(tc.file, func(t *testing.T) {
			// The rows as the zero config plus Request-Id renders them;
			// problem+json switched on only for the problem document.
			cfg := errorsx.HandlerConfig{Logger: discardLogger(),
				ProblemJSON: strings.HasPrefix(tc.file, "problem_")}
			hdr := []string{errorsx.HeaderRequestID, "req_golden_1"}
			if tc.header[0] != "" {
				hdr = append(hdr, tc.header[0], tc.header[1])
			}
			rec := renderErrRequestID(t, cfg, tc.err, hdr...)
			if !strings.HasPrefix(tc.file, "problem_") {
				env, _, err := checkRow(rec)
				if err != nil {
					t.Fatal(err)
				}
				seen[errorsx.Code(env.Code)] = true
			}
			got := formatResponse(rec)
			path := filepath.Join(goldenDir, tc.file)
			if *update {
				if err := os.MkdirAll(goldenDir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./errorsx -run TestGolden -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("response differs from %s (rerun with -update if the change is deliberate)\ngot:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
	for _, r := range errorsx.Rows() {
		if !seen[r.Code] {
			t.Errorf("no golden file for row %s", r.Code)
		}
	}
	// No stale golden files.
	entries, err := os.ReadDir(goldenDir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, c := range goldenCases {
		files = append(files, c.file)
	}
	for _, e := range entries {
		if !slices.Contains(files, e.Name()) {
			t.Errorf("stale golden file %s: no case writes it", e.Name())
		}
	}
}

// The golden files are served as they are: a HEAD of the same request gets
// the same status line and headers minus the body.
func TestGoldenHEAD(t *testing.T) {
	cfg := errorsx.HandlerConfig{Logger: discardLogger()}
	e := newEchoRequestID(cfg, func() error { return errorsx.NotFound() })
	req := httptest.NewRequest(http.MethodHead, "/fail", nil)
	req.Header.Set(errorsx.HeaderRequestID, "req_golden_1")
	got := formatResponse(serve(e, req))
	want, err := os.ReadFile(filepath.Join(goldenDir, "404_not_found.http"))
	if err != nil {
		t.Fatal(err)
	}
	// HEAD has no body, and every header of GET, Content-Length included
	// (RFC 9110 §9.3.2).
	head, _, _ := strings.Cut(string(want), "\n\n")
	if w := head + "\n\n\n"; got != w {
		t.Errorf("got:\n%s\nwant:\n%s", got, w)
	}
}
