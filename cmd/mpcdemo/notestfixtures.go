//go:build !testfixtures

package main

// withTestFixtures: a product build has no TEST-ONLY flag: every device
// generates fresh pre-parameters (see testfixtures.go).
const withTestFixtures = false
