// Package nethttp is apiguard's net/http front door: every guard as a
// standard func(http.Handler) http.Handler middleware, and an error writer,
// usable with http.ServeMux (Go 1.22+ patterns), chi, or anything that takes
// an http.Handler. It imports no web framework.
package nethttp
