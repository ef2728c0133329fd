package main

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mpcsign/mpcsign/internal/clitest"
)

// TestHelpComplete walks the command tree: every command says what it does
// (a Short line) and every flag what it sets (a usage text), and --help
// lists every flag that is not hidden.
func TestHelpComplete(t *testing.T) {
	clitest.CheckHelp(t, newRootCmd(), 26)
}

// TestMovedCommands: 'mpcctl demo' and 'mpcctl load' are hidden and, away
// from the module's source tree, only say in one line which command replaced
// them (exit code 2 in main), whatever flags follow. (The tests run in
// cmd/mpcctl, which is not the module's root.)
func TestMovedCommands(t *testing.T) {
	for name, want := range map[string]string{"demo": "go run ./cmd/mpcdemo", "load": "go run ./cmd/mpcload"} {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs([]string{name, "--clients", "4", "--insecure-test-preparams", "x"})
		err := root.Execute()
		moved, ok := errors.AsType[movedError](err)
		if !ok || !strings.Contains(moved.Error(), want) || strings.Contains(moved.Error(), "\n") || out.Len() != 0 {
			t.Errorf("mpcctl %s: %v (output %q), want one line naming %s", name, err, out.String(), want)
		}
		if cmd, _, err := root.Find([]string{name}); err != nil || !cmd.Hidden {
			t.Errorf("mpcctl %s is not a hidden command (%v)", name, err)
		}
	}
	if strings.Contains(newRootCmd().UsageString(), "demo") {
		t.Error("mpcctl --help lists a moved command")
	}
}

// TestMovedCommandRunsFromTheSourceTree: from the module's root, as
// `go run ./cmd/mpcctl demo` runs from a clone, the old command still
// works: it runs the demo's own command, here for its help.
func TestMovedCommandRunsFromTheSourceTree(t *testing.T) {
	t.Chdir(filepath.Join("..", ".."))
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"demo", "--help"})
	if err := root.Execute(); err != nil {
		t.Fatalf("mpcctl demo --help from the module's root: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "Starts a coordinator and device agents") || !strings.Contains(out.String(), "help for mpcdemo") {
		t.Fatalf("mpcctl demo --help did not run the demo's help:\n%s", out.String())
	}
	// A failing run passes its exit code on.
	root = newRootCmd()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"demo", "--no-such-flag"})
	if code, ok := errors.AsType[exitCode](root.Execute()); !ok || code == 0 {
		t.Fatalf("mpcctl demo --no-such-flag: exit code %v (%v)", code, ok)
	}
}
