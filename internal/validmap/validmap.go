// Package validmap carries one hook from package bind to package errorsx:
// the mapping of go-playground/validator errors onto the catalogue. bind
// sets it when a program imports bind, so errorsx.From maps a handler's
// validator errors while a program that never binds compiles no validator.
package validmap

import "sync/atomic"

// Func returns the 400 of a validator error in err's chain, or nil. Its
// result is an *errorsx.Error, typed as error to keep this package a leaf.
type Func func(err error) error

var hook atomic.Pointer[Func]

// Set registers f.
func Set(f Func) { hook.Store(&f) }

// Map returns f(err) of the registered f, or nil.
func Map(err error) error {
	if f := hook.Load(); f != nil {
		return (*f)(err)
	}
	return nil
}
