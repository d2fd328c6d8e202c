package guard

import (
	"net/http"
	"strings"
	"sync"

	routepattern "github.com/clipia/apiguard/internal/pattern"
)

// Template returns the canonical spelling of a router's route pattern, the
// one identity of a route on every front door: a leading method (and host)
// of a ServeMux pattern is dropped, and every path parameter is written
// {name}:
//
//	Echo, gin   /v1/generations/:id     → /v1/generations/{id}
//	ServeMux    GET /v1/generations/{id} → /v1/generations/{id}
//	chi         /v1/files/{id:[0-9]+}   → /v1/files/{id}
//	wildcards   /static/* (Echo, chi) → /static/{*}; /static/*path (gin)
//	            and /static/{path...} (ServeMux) → /static/{path}
//	ServeMux    /v1/{$}                 → /v1/
//
// Idempotency record keys, the route of rate-limit and concurrency
// decisions, metric and log attributes all use it. Template("") is "". Results are
// cached per pattern (patterns are the app's, a bounded set), so a door may
// call it per request without allocating.
func Template(pattern string) string {
	if pattern == "" {
		return ""
	}
	if pattern[0] == '/' && !strings.ContainsAny(pattern, ":*{") {
		return pattern // a path without parameters is its own template
	}
	if v, ok := templates.Load(pattern); ok {
		return v.(string)
	}
	t := routepattern.Template(pattern)
	templates.Store(pattern, t)
	return t
}

var templates sync.Map // pattern → template

// CleanPath prepares the path of r for routing, the same way on every
// door, and reports whether it can match a route at all. It reads the
// path as RFC 3986 does: a percent-encoded unreserved character (letters,
// digits, "-", ".", "_", "~") is that character (§6.2.2.2), so
// "/%761/models" and "/v1/mod%65ls" are "/v1/models"; other escapes
// ("%2F") stay escaped. A path that does not start with "/", or has an
// empty ("//"), "." or ".." segment, matches no route: ok is false, and the
// door answers 404 not_found instead of cleaning or redirecting (ServeMux
// and gin would redirect; Echo would route the raw text). When the path
// changes, r.URL.Path and r.URL.RawPath are set to the normalized form in
// place; an unchanged path costs no allocation.
func CleanPath(r *http.Request) (ok bool) {
	u := r.URL
	esc := u.RawPath
	switch {
	case esc == "":
		esc = u.Path
		if strings.IndexByte(esc, '%') >= 0 {
			// A decoded "%" ("%25" sent): read the escaped form, so that
			// "%2541" stays the three characters "%41", never "A".
			esc = u.EscapedPath()
		}
	case !validEscaped(esc):
		// An escaped form that net/url ignores (URL.EscapedPath), and
		// ServeMux with it: read the path as they do.
		u.RawPath = ""
		esc = u.EscapedPath()
	}
	if esc == "" || esc[0] != '/' {
		return false
	}
	if strings.IndexByte(esc, '%') >= 0 {
		norm, changed := decodeUnreserved(esc)
		if changed {
			esc = norm
			if strings.IndexByte(esc, '%') < 0 {
				u.Path, u.RawPath = esc, ""
			} else if u.Path, u.RawPath = unescapePath(esc), ""; u.EscapedPath() != esc {
				// As net/url does: RawPath only for an escape that the
				// default encoding of Path would not write ("%2F"), so that
				// "%c3%a9" routes as "%C3%A9" and "é" do on every door.
				u.RawPath = esc
			}
		}
	}
	return cleanSegments(esc)
}

// cleanSegments reports whether p (starting with "/") has no empty inner
// segment and no "." or ".." segment. A trailing slash is allowed.
func cleanSegments(p string) bool {
	for i := 1; i <= len(p); {
		j := strings.IndexByte(p[i:], '/')
		var seg string
		if j < 0 {
			seg, j = p[i:], len(p)-i
		} else {
			seg = p[i : i+j]
		}
		last := i+j >= len(p)
		switch seg {
		case "":
			if !last {
				return false
			}
		case ".", "..":
			return false
		}
		i += j + 1
	}
	return true
}

// decodeUnreserved decodes the percent-encoded unreserved characters of
// the escaped path p and upper-cases the hex of the other escapes. It
// allocates only when p changes.
func decodeUnreserved(p string) (string, bool) {
	var b []byte
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' && i+2 < len(p) {
			hi, lo := unhex(p[i+1]), unhex(p[i+2])
			if hi >= 0 && lo >= 0 {
				d := byte(hi<<4 | lo)
				keep := !unreserved(d) && p[i+1] == upperHex[hi] && p[i+2] == upperHex[lo]
				switch {
				case keep && b == nil:
				case keep:
					b = append(b, p[i:i+3]...)
				default:
					if b == nil {
						b = append(make([]byte, 0, len(p)), p[:i]...)
					}
					if unreserved(d) {
						b = append(b, d)
					} else {
						b = append(b, '%', upperHex[hi], upperHex[lo])
					}
				}
				i += 2
				continue
			}
		}
		if b != nil {
			b = append(b, c)
		}
	}
	if b == nil {
		return p, false
	}
	return string(b), true
}

// validEscaped reports whether p is an escaped path that net/url uses as
// is (its validEncoded): every byte a pchar, "/" or "%".
func validEscaped(p string) bool {
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '/', '%', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@', '[', ']':
		default:
			if !unreserved(c) {
				return false
			}
		}
	}
	return true
}

const upperHex = "0123456789ABCDEF"

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// unescapePath decodes every escape of p (validated by decodeUnreserved).
func unescapePath(p string) string {
	b := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) {
			hi, lo := unhex(p[i+1]), unhex(p[i+2])
			if hi >= 0 && lo >= 0 {
				b = append(b, byte(hi<<4|lo))
				i += 2
				continue
			}
		}
		b = append(b, p[i])
	}
	return string(b)
}
