package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// exitMoved is the exit code of a command that moved to another binary.
const exitMoved = 2

// movedError says which command replaced one that mpcctl no longer has.
type movedError struct{ msg string }

func (e movedError) Error() string { return e.msg }

// newMovedCmd is a hidden command that only says, in one line, which
// command replaced it: mpcctl is the operator's client and links no
// coordinator or device code, so the demo and the load generator that run
// both are commands of their own.
func newMovedCmd(name, replacement string) *cobra.Command {
	return &cobra.Command{
		Use:                name,
		Short:              "Moved: run " + replacement,
		Hidden:             true,
		DisableFlagParsing: true, // old flags get the same answer
		RunE: func(*cobra.Command, []string) error {
			return movedError{fmt.Sprintf("'mpcctl %s' is now its own command: %s", name, replacement)}
		},
	}
}
