// Package pattern spells a router's route pattern as the one canonical
// template of apiguard (guard.Template, openapi): a leaf both import.
package pattern

import "strings"

// Template returns the canonical spelling of pattern; see guard.Template.
func Template(p string) string {
	if p == "" {
		return ""
	}
	if i := strings.IndexByte(p, '/'); i > 0 {
		p = p[i:] // "GET /x", "GET host/x", "host/x"
	}
	if !strings.ContainsAny(p, ":*{") {
		return p
	}
	var b strings.Builder
	for i, seg := range strings.Split(p, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		switch {
		case seg == "":
		case seg == "*":
			b.WriteString("{*}")
		case seg[0] == ':' || seg[0] == '*':
			b.WriteString("{" + seg[1:] + "}")
		case seg == "{$}":
		case seg[0] == '{' && seg[len(seg)-1] == '}':
			name := seg[1 : len(seg)-1]
			if j := strings.IndexByte(name, ':'); j >= 0 {
				name = name[:j] // chi's {id:regexp}
			}
			name = strings.TrimSuffix(name, "...")
			b.WriteString("{" + name + "}")
		default:
			b.WriteString(seg)
		}
	}
	return b.String()
}
