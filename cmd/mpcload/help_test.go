package main

import (
	"testing"

	"github.com/mpcsign/mpcsign/internal/clitest"
)

// TestHelpComplete: the command says what it does and every flag what it
// sets, and --help lists every flag that is not hidden.
func TestHelpComplete(t *testing.T) {
	clitest.CheckHelp(t, newRootCmd(withTestFixtures), 2)
	clitest.CheckHelp(t, newRootCmd(true), 2)
}

// TestLogFlags: the cluster's processes take the same log flags as those
// binaries, with the defaults 'mpcctl load' had.
func TestLogFlags(t *testing.T) {
	clitest.CheckDefaults(t, newRootCmd(withTestFixtures), map[string]string{"log-format": "text", "log-level": "warn"})
}

// TestTestPreparamsFlagOnlyWithTag: --insecure-test-preparams exists only in
// a build with -tags testfixtures, hidden; a product build refuses it as an
// unknown flag and uses testdata/preparams.
func TestTestPreparamsFlagOnlyWithTag(t *testing.T) {
	clitest.CheckTestOnlyFlag(t, newRootCmd, withTestFixtures, "insecure-test-preparams", "testdata/preparams", "/")
}
