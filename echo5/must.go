package echo5

// Must returns v, or panics when err is not nil. Every constructor of
// apiguard returns its value and an error; Must is for program setup in
// main, where a bad configuration should stop the program:
//
//	e.Pre(echo5.Must(echo5.Head(echo5.HeadConfig{})))
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
