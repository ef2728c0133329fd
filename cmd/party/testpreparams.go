package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/party"
)

// registerTestPreparams adds the hidden TEST-ONLY --insecure-test-preparams
// flag to `party run`: public pre-parameters from a fixture file, for the
// tests that run real party processes. Only a build with -tags
// testfixtures registers it (see testfixtures.go); as a flag of the
// command line only it is refused from the environment and the config
// file (storeFlags.why).
func registerTestPreparams(cmd *cobra.Command, file *string) {
	cmd.Flags().StringVar(file, "insecure-test-preparams", "", "TEST ONLY: import public pre-parameters from a fixture file")
	_ = cmd.Flags().MarkHidden("insecure-test-preparams")
}

func importTestPreparams(a *party.Agent, path string, log *slog.Logger) error {
	added, err := party.ImportTestFixtures(a, path)
	if err != nil {
		return err
	}
	log.Warn("INSECURE: imported TEST-ONLY pre-parameters; keys made with them are not safe; no others are generated", "sets", added)
	return nil
}
