package auth_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/clipia/apiguard/auth"
)

// authOracle is an independent statement of what Authenticate accepts: the scheme
// in any case, one or more spaces, then 1–256 visible ASCII characters.
var authOracle = regexp.MustCompile(`^(?i:bearer) +([\x21-\x7e]{1,256})$`)

// FuzzAuthHeader sends arbitrary Authorization values through a net/http app
// with the renderer and checks, for every input: the answer is 200 exactly
// when the oracle extracts a valid demo key, and then the right principal;
// otherwise it is the one 401 body with the invalid_token challenge; the log
// never contains a demo key.
func FuzzAuthHeader(f *testing.F) {
	for _, s := range []string{
		"Bearer sk_test_full", "bearer sk_test_other", "BEARER   sk_test_readonly", "Bearer sk_test_revoked",
		"Bearer sk_test_nocredits", "", "Bearer", "Bearer ", "Basic abc", "sk_test_full", "Bearersk_test_full",
		"Bearer\tsk_test_full", "Bearer sk_test_full ", "Bearer sk test", "Bearer sk_tést", "Bearer \x00",
		"Bearer " + strings.Repeat("a", 257), "Bearer  sk_test_full", " Bearer sk_test_full",
	} {
		f.Add(s)
	}
	log := &authLog{}
	e := authServer(f, auth.Config{}, log)
	valid := map[string]string{
		"sk_test_full": "key_full acme", "sk_test_other": "key_other globex",
		"sk_test_readonly": "key_readonly acme", "sk_test_nocredits": "key_nocredits initech",
	}
	f.Fuzz(func(t *testing.T, v string) {
		log.Reset()
		req := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
		req.Header["Authorization"] = []string{v}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)

		wantOK := ""
		if m := authOracle.FindStringSubmatch(v); m != nil {
			wantOK = valid[m[1]]
		}
		if wantOK != "" {
			if rec.Code != http.StatusOK || rec.Body.String() != wantOK {
				t.Fatalf("%q: got %d %s, want 200 %s", v, rec.Code, rec.Body, wantOK)
			}
		} else {
			if rec.Code != http.StatusUnauthorized || rec.Body.String() != authBody401 {
				t.Fatalf("%q: got %d %s, want 401 %s", v, rec.Code, rec.Body, authBody401)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != authChallengeToken {
				t.Fatalf("%q: got WWW-Authenticate %q, want %q", v, got, authChallengeToken)
			}
		}
		if out := log.String(); strings.Contains(out, "sk_test_") {
			t.Fatalf("%q: the log contains a key:\n%s", v, out)
		}
	})
}
