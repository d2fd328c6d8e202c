package main

import (
	"os"
	"testing"

	"github.com/clipia/apiguard/contracttest"
	"github.com/clipia/apiguard/internal/exampletest"
)

// TestChi exercises the program as the README describes it.
func TestChi(t *testing.T) { exampletest.Run(t, newApp()) }

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
