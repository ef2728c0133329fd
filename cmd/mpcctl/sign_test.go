package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mpcsign/mpcsign/internal/sigfmt"
)

// TestSignHelpStatesLimits: 'mpcctl sign --help' states the coordinator's
// batch and message limits, with the values it enforces.
func TestSignHelpStatesLimits(t *testing.T) {
	cmd, _, err := newRootCmd().Find([]string{"sign"})
	if err != nil {
		t.Fatal(err)
	}
	help := strings.Join(strings.Fields(cmd.Long), " ")
	for _, want := range []string{
		fmt.Sprintf("1 to %d bytes", sigfmt.MaxMessage),
		fmt.Sprintf("a batch of up to %d items", sigfmt.MaxBatch),
	} {
		if !strings.Contains(help, want) {
			t.Errorf("sign --help does not say %q:\n%s", want, cmd.Long)
		}
	}
}
