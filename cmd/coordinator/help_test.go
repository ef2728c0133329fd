package main

import (
	"testing"

	"github.com/mpcsign/mpcsign/internal/clitest"
)

// TestHelpComplete walks the command tree: every command says what it does
// (a Short line) and every flag what it sets (a usage text), and --help
// lists every flag that is not hidden.
func TestHelpComplete(t *testing.T) {
	clitest.CheckHelp(t, newRootCmd(nil, nil), 6)
}

// TestVersionJSONFlag checks `version` offers --json, as the README says.
func TestVersionJSONFlag(t *testing.T) {
	cmd, _, err := newRootCmd(nil, nil).Find([]string{"version"})
	if err != nil || cmd.Flags().Lookup("json") == nil {
		t.Fatalf("version has no --json flag (%v)", err)
	}
}
