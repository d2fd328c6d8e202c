// Package sdk holds apiguard's interop tests with real, unmodified client
// SDKs: github.com/openai/openai-go/v3, github.com/hashicorp/go-retryablehttp
// and github.com/stripe/stripe-go/v82.
//
// The tests build the reference server (examples/server) once, start it as a
// separate process on a free loopback port per test and per front door
// (-framework echo4, echo5 and nethttp: every test runs once on each, as a
// subtest named after it; APIGUARD_FRAMEWORKS=echo4,nethttp narrows the
// list), put a counting reverse proxy in front of it and drive every row of
// the error table through each SDK. They assert what the SDK hands its caller (its typed error and the
// fields it read from the envelope) and how many attempts it made, as the
// proxy counted them. The package has no non-test code; it lives in its own
// module so that apiguard's users never download these SDKs.
package sdk
