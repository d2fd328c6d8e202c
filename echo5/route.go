package echo5

import (
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/echo5route"
	"github.com/labstack/echo/v5"
)

// RouteMatched reports whether the request of c matched a route of the app.
//
// Echo runs a group's middlewares for every path under the group, known or
// not: Group.Use registers catch-all "route not found" routes so that they
// run. A guard on a group (e.Group("/v1", auth, limit)) therefore also sees
// GET /v1/nope. Every apiguard guard asks RouteMatched first and answers
// such a request 404 not_found before it does anything else, so an unknown
// route needs no key, spends no token and claims no idempotency key,
// whichever guard sees it first. A wrong method on a known path is an
// unknown route too (the contract maps 405 onto 404). Unlike Echo v4,
// Echo v5 tells a group's catch-all from an app's own route on the same
// path, so RouteMatched is exact. It does not allocate.
func RouteMatched(c *echo.Context) bool { return echo5route.Matched(c) }

// errRouteNotFound is what a guard returns for a request that matched no
// route.
var errRouteNotFound = errorsx.NotFound()

// unmatched returns the 404 of a request that matched no route, or nil:
// the first step of every guard of this package.
//
//lint:ignore U1000 the guards (auth, rate limit, scopes, bind, idempotency) call it
func unmatched(c *echo.Context) error {
	if echo5route.Matched(c) {
		return nil
	}
	return errRouteNotFound
}
