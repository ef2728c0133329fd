package main

import (
	"bytes"
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
	cmd := newRootCmd(withTestFixtures)
	for flag, def := range map[string]string{"log-format": "text", "log-level": "warn"} {
		f := cmd.Flags().Lookup(flag)
		if f == nil || f.DefValue != def {
			t.Errorf("mpcdemo --%s: %+v, want default %q", flag, f, def)
		}
	}
	err := runDemo(context.Background(), io.Discard, io.Discard, t.TempDir(), false, "warn", "yaml", "")
	if err == nil || !strings.Contains(err.Error(), "log format") {
		t.Fatalf("demo with --log-format yaml: %v, want an unknown log format error", err)
	}
}

// TestTestPreparamsFlagOnlyWithTag: --insecure-test-preparams exists only in
// a build with -tags testfixtures, hidden; a product build refuses it as an
// unknown flag.
func TestTestPreparamsFlagOnlyWithTag(t *testing.T) {
	for _, testFlags := range []bool{false, true} {
		f := newRootCmd(testFlags).Flags().Lookup("insecure-test-preparams")
		if (f != nil) != testFlags || (f != nil && !f.Hidden) {
			t.Errorf("newRootCmd(%v): flag %+v", testFlags, f)
		}
	}
	if f := newRootCmd(withTestFixtures).Flags().Lookup("insecure-test-preparams"); (f != nil) != withTestFixtures {
		t.Errorf("this build (testfixtures %v) has the flag: %v", withTestFixtures, f != nil)
	}
	cmd := newRootCmd(false)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--insecure-test-preparams", "x"})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "unknown flag: --insecure-test-preparams") {
		t.Errorf("a product build with --insecure-test-preparams: %v, want an unknown flag", err)
	}
}
