package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/spf13/cobra"
)

// exitMoved is the exit code of a command that moved to another binary.
const exitMoved = 2

// movedError says which command replaced one that mpcctl no longer has.
type movedError struct{ msg string }

func (e movedError) Error() string { return e.msg }

// exitCode is the exit code of a forwarded command that failed (it said why
// itself).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// newMovedCmd is a hidden command for one that moved to a binary of its own
// (pkg): mpcctl is the operator's client and links no coordinator or device
// code, so the demo and the load generator that run both are commands of
// their own. Run from this module's source tree with the go tool at hand (as
// `go run ./cmd/mpcctl demo` from a clone is), it runs the replacement there
// with the same arguments, so the old command keeps working; anywhere else
// it only says, in one line, which command replaced it.
func newMovedCmd(name, pkg string) *cobra.Command {
	replacement := "go run " + pkg
	return &cobra.Command{
		Use:                name,
		Short:              "Moved: run " + replacement,
		Hidden:             true,
		DisableFlagParsing: true, // old flags get the same answer
		RunE: func(cmd *cobra.Command, args []string) error {
			if ran, err := forward(cmd, pkg, args); ran {
				return err
			}
			return movedError{fmt.Sprintf("'mpcctl %s' is now its own command: %s", name, replacement)}
		},
	}
}

// forward runs `go run pkg args...` when the working directory is this
// module's root and the go tool is on PATH; ran is false, and nothing runs,
// otherwise.
func forward(cmd *cobra.Command, pkg string, args []string) (ran bool, err error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return false, nil
	}
	if mod, err := os.ReadFile("go.mod"); err != nil || !bytes.HasPrefix(mod, []byte("module github.com/mpcsign/mpcsign\n")) {
		return false, nil
	}
	if fi, err := os.Stat(pkg); err != nil || !fi.IsDir() {
		return false, nil
	}
	// No context: an interrupt reaches the child from the terminal itself,
	// and it cleans up (the demo removes its temporary directory).
	c := exec.Command(gobin, append([]string{"run", pkg}, args...)...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
	err = c.Run()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		return true, exitCode(ee.ExitCode())
	}
	return true, err
}
