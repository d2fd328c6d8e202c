package main

import (
	"testing"

	"github.com/clipia/apiguard/internal/exampletest"
)

// TestNetHTTP exercises the program as the README describes it.
func TestNetHTTP(t *testing.T) { exampletest.Run(t, newApp()) }
