package middleware

import (
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/echoroute"
	"github.com/labstack/echo/v4"
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
// unknown route too (the contract maps 405 onto 404).
//
// When one path is both a "route not found" route and a real route (a
// group's catch-all and an app's own "/v1/*" route), RouteMatched cannot
// tell them apart and reports true: the guards then apply, which fails
// closed.
func RouteMatched(c echo.Context) bool { return echoroute.Matched(c) }

// errRouteNotFound is what a guard returns for a request that matched no
// route.
var errRouteNotFound = errorsx.NotFound()

// unmatched returns the 404 of a request that matched no route, or nil.
func unmatched(c echo.Context) error {
	if echoroute.Matched(c) {
		return nil
	}
	return errRouteNotFound
}
