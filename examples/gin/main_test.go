package main

import (
	"testing"

	"github.com/clipia/apiguard/internal/exampletest"
)

// TestGin exercises the program as the README describes it.
func TestGin(t *testing.T) { exampletest.Run(t, newApp()) }
