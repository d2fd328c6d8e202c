package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/clipia/apiguard/internal/exampletest"
)

// TestREADMEShowsThisProgram: the README's program is this file, verbatim.
func TestREADMEShowsThisProgram(t *testing.T) {
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	// The README shows the program from its package clause on.
	_, body, ok := bytes.Cut(src, []byte("package main\n"))
	if !ok {
		t.Fatal("main.go has no package clause")
	}
	if !bytes.Contains(readme, append([]byte("```go\npackage main\n"), body...)) {
		t.Error("README.md does not show examples/quickstart/main.go verbatim; copy it again")
	}
}

// TestQuickstart exercises the program as the README describes it.
func TestQuickstart(t *testing.T) { exampletest.Run(t, newApp()) }
