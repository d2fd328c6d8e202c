package main

import (
	"testing"

	"github.com/clipia/apiguard/internal/exampletest"
)

// TestChi exercises the program as the README describes it.
func TestChi(t *testing.T) { exampletest.Run(t, newApp()) }
