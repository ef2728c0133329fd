//go:build testfixtures

package main

// withTestFixtures: this build registers the hidden TEST-ONLY
// --insecure-test-preparams flag (go build -tags testfixtures).
const withTestFixtures = true
