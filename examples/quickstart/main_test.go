package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/clipia/apiguard/contracttest"
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

// TestContract runs apiguard's contract checker on the program: every
// answer is a row of the catalogue in the envelope, listed in the
// program's OpenAPI document, with its headers. The document is written by
// hand (testdata/openapi.json); once apiguard generates a program's
// document from its routes and guards, this test checks the generated one.
func TestContract(t *testing.T) {
	doc, err := os.ReadFile("testdata/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	contracttest.Run(t, newApp(), doc, contracttest.Key("sk_test_full"))
}
