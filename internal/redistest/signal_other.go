//go:build !unix

package redistest

import "os"

// Processes cannot be paused here: Pause and Resume skip the test.
var sigStop, sigCont os.Signal
