//go:build !testfixtures

package main

// withTestFixtures: a product build has no TEST-ONLY flag; the fixtures are
// the repository's testdata/preparams (see testfixtures.go).
const withTestFixtures = false
