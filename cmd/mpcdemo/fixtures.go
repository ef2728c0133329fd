package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/party"
)

// registerTestPreparams adds the hidden TEST-ONLY --insecure-test-preparams
// flag, registered only in a build with -tags testfixtures (the demo's own
// test passes the directory to runDemo instead).
func registerTestPreparams(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "insecure-test-preparams", "", "TEST ONLY: directory of TEST-ONLY-set-N.json fixtures to use instead of generating pre-parameters")
	_ = cmd.Flags().MarkHidden("insecure-test-preparams")
}

// addTestFixtures puts TEST-ONLY pre-parameters into a demo device's pool.
func addTestFixtures(a *party.Agent, path string, log *slog.Logger) error {
	log.Warn("INSECURE: using TEST-ONLY pre-parameters from a public fixture file", "file", path)
	_, err := party.ImportTestFixtures(a, path)
	return err
}
