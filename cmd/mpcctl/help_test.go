package main

import (
	"bytes"
	"errors"
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

// TestMovedCommands: 'mpcctl demo' and 'mpcctl load' are hidden and only
// say, in one line, which command replaced them (exit code 2 in main),
// whatever flags follow.
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
