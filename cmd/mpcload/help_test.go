package main

import (
	"bytes"
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

// TestLogFlags: the cluster's processes take the same log flags as those
// binaries, with the defaults 'mpcctl load' had.
func TestLogFlags(t *testing.T) {
	cmd := newRootCmd(withTestFixtures)
	for flag, def := range map[string]string{"log-format": "text", "log-level": "warn"} {
		f := cmd.Flags().Lookup(flag)
		if f == nil || f.DefValue != def {
			t.Errorf("mpcload --%s: %+v, want default %q", flag, f, def)
		}
	}
}

// TestTestPreparamsFlagOnlyWithTag: --insecure-test-preparams exists only in
// a build with -tags testfixtures, hidden; a product build refuses it as an
// unknown flag and uses testdata/preparams.
func TestTestPreparamsFlagOnlyWithTag(t *testing.T) {
	for _, testFlags := range []bool{false, true} {
		cmd := newRootCmd(testFlags)
		f := cmd.Flags().Lookup("insecure-test-preparams")
		if (f != nil) != testFlags || (f != nil && (!f.Hidden || f.DefValue != "testdata/preparams")) {
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
	cmd.SetArgs([]string{"--insecure-test-preparams", "/"})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "unknown flag: --insecure-test-preparams") {
		t.Errorf("a product build with --insecure-test-preparams: %v, want an unknown flag", err)
	}
}
