package main

import (
	"testing"

	"github.com/clipia/apiguard/internal/exampletest"
)

// TestEcho5 exercises the program as the README describes it.
func TestEcho5(t *testing.T) { exampletest.Run(t, newApp()) }
