//go:build testfixtures

package main

// withTestFixtures: this build registers the hidden TEST-ONLY
// --insecure-test-preparams flag of `party run` (go build -tags
// testfixtures, as the e2e tests and mpcload build the party).
const withTestFixtures = true
