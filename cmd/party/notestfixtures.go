//go:build !testfixtures

package main

// withTestFixtures: a product build has no TEST-ONLY flag; every party
// generates its own pre-parameters (see testfixtures.go).
const withTestFixtures = false
