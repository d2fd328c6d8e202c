package main

import (
	"testing"

	"github.com/clipia/apiguard/internal/exampletest"
)

func TestNetHTTP(t *testing.T) { exampletest.Run(t, newApp()) }
