// Package clitest holds test helpers shared by the three commands.
package clitest

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// CheckHelp walks the command tree under root: every command says what it
// does (a Short line), every flag what it sets (a usage text), and --help
// lists every flag that is not hidden. It fails t when it walked fewer than
// minCommands commands (the tree was not built as expected).
func CheckHelp(t testing.TB, root *cobra.Command, minCommands int) {
	t.Helper()
	var n int
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		n++
		if strings.TrimSpace(c.Short) == "" {
			t.Errorf("%q has no Short description", c.CommandPath())
		}
		usage := c.UsageString()
		for _, fs := range []*pflag.FlagSet{c.LocalFlags(), c.InheritedFlags()} {
			fs.VisitAll(func(f *pflag.Flag) {
				if strings.TrimSpace(f.Usage) == "" {
					t.Errorf("%q: flag --%s has no usage text", c.CommandPath(), f.Name)
				}
				if !f.Hidden && !strings.Contains(usage, "--"+f.Name) {
					t.Errorf("%q --help does not list --%s", c.CommandPath(), f.Name)
				}
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if n < minCommands {
		t.Fatalf("walked %d commands, want at least %d", n, minCommands)
	}
}
