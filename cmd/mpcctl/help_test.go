package main

import (
	"context"
	"io"
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

// TestLogFlagsOfLocalClusters checks the commands that start a coordinator
// and devices take the same log flags as those binaries, and that demo
// refuses an unknown format before it starts anything.
func TestLogFlagsOfLocalClusters(t *testing.T) {
	for _, name := range []string{"demo", "load"} {
		cmd, _, err := newRootCmd().Find([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		for flag, def := range map[string]string{"log-format": "text", "log-level": "warn"} {
			f := cmd.Flags().Lookup(flag)
			if f == nil || f.DefValue != def {
				t.Errorf("mpcctl %s --%s: %+v, want default %q", name, flag, f, def)
			}
		}
	}
	err := runDemo(context.Background(), io.Discard, io.Discard, t.TempDir(), false, "warn", "yaml", "")
	if err == nil || !strings.Contains(err.Error(), "log format") {
		t.Fatalf("demo with --log-format yaml: %v, want an unknown log format error", err)
	}
}
