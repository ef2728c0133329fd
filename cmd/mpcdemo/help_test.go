package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/mpcsign/mpcsign/internal/clitest"
)

// TestHelpComplete: the command says what it does and every flag what it
// sets, and --help lists every flag that is not hidden.
func TestHelpComplete(t *testing.T) {
	clitest.CheckHelp(t, newRootCmd(withTestFixtures), 1)
	clitest.CheckHelp(t, newRootCmd(true), 1)
}

// TestLogFlags: the demo takes the same log flags as the coordinator and
// party binaries, and refuses an unknown format before it starts anything.
func TestLogFlags(t *testing.T) {
	clitest.CheckDefaults(t, newRootCmd(withTestFixtures), map[string]string{"log-format": "text", "log-level": "warn"})
	err := runDemo(context.Background(), io.Discard, io.Discard, t.TempDir(), false, "warn", "yaml", "")
	if err == nil || !strings.Contains(err.Error(), "log format") {
		t.Fatalf("demo with --log-format yaml: %v, want an unknown log format error", err)
	}
}

// TestTestPreparamsFlagOnlyWithTag: --insecure-test-preparams exists only in
// a build with -tags testfixtures, hidden; a product build refuses it as an
// unknown flag.
func TestTestPreparamsFlagOnlyWithTag(t *testing.T) {
	clitest.CheckTestOnlyFlag(t, newRootCmd, withTestFixtures, "insecure-test-preparams", "", "x")
}
