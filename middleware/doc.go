// Package middleware is the home of apiguard's front doors, one package
// each, every one a small adapter of its framework onto the one guard
// contract (package guard):
//
//   - middleware/echo4: Echo v4 (github.com/labstack/echo/v4)
//   - middleware/echo5: Echo v5 (github.com/labstack/echo/v5)
//   - middleware/gin1: gin (github.com/gin-gonic/gin)
//   - middleware/nethttp: net/http's ServeMux, or any http.Handler
//   - middleware/chi5: chi (github.com/go-chi/chi/v5), through the net/http door
//
// Each door has the same shape: Install makes an app of the framework's
// router (the one renderer, the request-level guards, one reading of odd
// paths, HEAD wherever GET is), and Use mounts guards — auth.Authenticator,
// auth.Scopes, ratelimit.Limiter, ratelimit.Concurrency, idempotency.Guard,
// bind.Binder — on a route or a group. A program compiles only the
// framework of the door it imports; this package holds no code.
package middleware
