package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// redisLogger is go-redis's logger (redis.SetLogger) writing to the
// server's slog logger: one record per go-redis line, at level Warn (go-redis
// only logs trouble: failed dials, bad connections), message "redis client",
// the line itself under "detail" with the Redis URL's credentials and
// addresses redacted and its length bounded.
type redisLogger struct {
	logger *slog.Logger
	redact func(string) string
}

// maxRedisDetail bounds the length of a logged go-redis line.
const maxRedisDetail = 512

// Printf implements go-redis's internal.Logging interface.
func (l *redisLogger) Printf(ctx context.Context, format string, v ...any) {
	msg := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	msg = l.redact(msg)
	if len(msg) > maxRedisDetail {
		msg = msg[:maxRedisDetail] + "…"
	}
	l.logger.LogAttrs(ctx, slog.LevelWarn, "redis client", slog.String("detail", msg))
}

// ipPort matches an IPv4 or bracketed IPv6 address with a port, as a Go
// network error names the peer it dialled.
var ipPort = regexp.MustCompile(`\b(?:\d{1,3}\.){3}\d{1,3}:\d+\b|\[[0-9A-Fa-f:.%]+\]:\d+`)

// newRedactor returns a function that removes from a log text what the
// Redis URL holds and a log must not: the password and the addresses of the
// nodes (host:port of the URL and of its addr parameters, and the host
// alone when it is a domain name or an IP), and any other IP:port, which
// go-redis prints when a dial fails.
func newRedactor(rawURL string) func(string) string {
	var secrets, addrs []string
	if u, err := url.Parse(rawURL); err == nil {
		if u.User != nil {
			if p, ok := u.User.Password(); ok && p != "" {
				secrets = append(secrets, p)
			}
		}
		hosts := append([]string{u.Host}, u.Query()["addr"]...)
		for _, h := range hosts {
			if h == "" {
				continue
			}
			addrs = append(addrs, h)
			// The bare host too when it names a network (a dot): not a
			// single word such as "redis", which the log text uses itself.
			if host, _, err := net.SplitHostPort(h); err == nil && strings.ContainsAny(host, ".:") {
				addrs = append(addrs, host)
			}
		}
	}
	return func(s string) string {
		for _, sec := range secrets {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
		s = ipPort.ReplaceAllString(s, "[address]")
		for _, a := range addrs { // host:port first, then the bare host
			s = strings.ReplaceAll(s, a, "[address]")
		}
		return s
	}
}
