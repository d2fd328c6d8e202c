package main

import (
	"testing"

	"github.com/clipia/apiguard/internal/exampletest"
)

func TestEcho5(t *testing.T) { exampletest.Run(t, newApp()) }
