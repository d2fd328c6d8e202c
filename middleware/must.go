package middleware

// Must returns v, or panics when err is not nil. Every constructor of
// apiguard returns its value and an error (a middleware, a store, a key
// store); Must is for program setup in main, where a bad configuration
// should stop the program:
//
//	auth := middleware.Must(middleware.Auth(auth.Config{Store: keys}))
//	limit := middleware.Must(middleware.RateLimit(ratelimit.Config{Policies: policies}))
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
