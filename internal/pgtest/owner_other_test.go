//go:build !unix

package pgtest

import "os"

func ownerUID(os.FileInfo) uint32 { return 1 }
