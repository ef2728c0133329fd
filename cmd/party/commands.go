package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/crashtest"
	"github.com/mpcsign/mpcsign/internal/logging"
	"github.com/mpcsign/mpcsign/keystore"
	"github.com/mpcsign/mpcsign/party"
)

// open makes the command's logger and opens the device's keystore.
func (c *storeConfig) open(cmd *cobra.Command) (*keystore.Store, *slog.Logger, error) {
	log, err := logging.New(cmd.ErrOrStderr(), c.logLevel, c.logFormat)
	if err != nil {
		return nil, nil, err
	}
	ks, err := openStore(c, log)
	return ks, log, err
}

func openStore(c *storeConfig, log *slog.Logger) (*keystore.Store, error) {
	pass, err := keystore.LoadPassphrase(c.passphraseFile)
	if err != nil {
		return nil, err
	}
	defer pass.Wipe()
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return nil, err
	}
	return keystore.Open(c.dataDir, pass, keystore.Options{Logger: log})
}

func newEnrollCmd(environ []string) *cobra.Command {
	var f storeFlags
	var code string
	cmd := &cobra.Command{
		Use:   "enroll --code CODE",
		Short: "Enrol this device with a coordinator, using a one-time pairing code",
		Long: `Creates this device's identity keys in its keystore and registers them with
the coordinator named in the pairing code (from 'mpcctl devices pair'). The
code also carries the coordinator's certificate fingerprint, which this
device pins from now on.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ks, _, err := f.open(cmd)
			if err != nil {
				return err
			}
			defer ks.Close()
			if code == "-" {
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 4096))
				if err != nil {
					return err
				}
				code = strings.TrimSpace(string(b))
			}
			cfg, err := party.Enroll(cmd.Context(), ks, code)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "enrolled as %q (device id %s) with coordinator %s\n", cfg.Name, cfg.DeviceID, cfg.Address)
			fmt.Fprintf(w, "short authentication string: %s\n", cfg.SAS)
			if cfg.PendingApproval {
				fmt.Fprintf(w, "the operator must compare it and approve this device: mpcctl devices approve %s --sas %s\n", cfg.Name, cfg.SAS)
			}
			fmt.Fprintf(w, "start it with: party run --data %s\n", f.dataDir)
			return nil
		},
	}
	f.register(cmd, environ)
	cmd.Flags().StringVar(&code, "code", "", "pairing code from 'mpcctl devices pair', or - to read it from standard input (required)")
	_ = cmd.MarkFlagRequired("code")
	return cmd
}

// runConfig is what `party run` runs with, once its settings are resolved.
type runConfig struct {
	storeConfig
	// testPreparams is the hidden TEST-ONLY --insecure-test-preparams: a
	// flag of the command line only, not a setting, and only of a build
	// with -tags testfixtures.
	testPreparams string
}

// runFunc runs the agent with resolved, valid settings.
type runFunc func(cmd *cobra.Command, cfg runConfig) error

// newRunCmd builds `party run`, with the hidden TEST-ONLY
// --insecure-test-preparams only in a build with -tags testfixtures.
func newRunCmd(environ []string, run runFunc) *cobra.Command {
	return newRunCmdWith(environ, run, withTestFixtures)
}

// newRunCmdWith is newRunCmd with the TEST-ONLY flag registered or not
// (tests register it to check how it is read, whatever the build).
func newRunCmdWith(environ []string, run runFunc, testFlags bool) *cobra.Command {
	var f storeFlags
	var testPreparams string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Connect to the coordinator and take part in keygen and signing",
		Long: `Keeps one outbound link to the coordinator (reconnecting with backoff) and
runs the sessions it is asked to run. In the background it fills a pool of
pre-parameters (Paillier safe primes, seconds to minutes each), which every
key generation needs; progress is logged.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd, runConfig{storeConfig: f.storeConfig, testPreparams: testPreparams})
		},
	}
	f.registerAgent(cmd, environ)
	if testFlags {
		registerTestPreparams(cmd, &testPreparams)
	}
	return cmd
}

// runAgent runs the agent until ctx ends, then drains it: new sessions are
// refused, running ones may finish within --drain-timeout (then they are
// aborted), and the keystore is closed.
func runAgent(cmd *cobra.Command, cfg runConfig) error {
	ks, log, err := cfg.open(cmd)
	if err != nil {
		return err
	}
	defer ks.Close()
	opts := party.Options{Store: ks, Logger: log, PoolTarget: cfg.preparamsPool}
	if crash := crashtest.Hook(); crash != nil {
		log.Warn("TEST ONLY: crash points are armed", "env", crashtest.Env)
		opts.CrashAt = crash
	}
	if cfg.prompt {
		opts.Prompter = newTerminalPrompter(cmd.InOrStdin(), cmd.OutOrStdout())
	}
	a, err := party.New(opts)
	if err != nil {
		return err
	}
	if cfg.testPreparams != "" {
		if err := importTestPreparams(a, cfg.testPreparams, log); err != nil {
			return err
		}
	}
	pc := a.Config()
	attrs := []any{"device", pc.Name, "id", pc.DeviceID, "coordinator", pc.Address, "preparams_ready", a.Pool().Ready()}
	if cfg.configFile != "" {
		attrs = append(attrs, "config_file", cfg.configFile)
	}
	log.Info("device starting", attrs...)

	// The link and the status socket outlive the signal until the drain is
	// over: their context is not the command's.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(cmd.Context()))
	defer stopRun()
	var served sync.WaitGroup
	if lis, err := party.ListenStatus(cfg.dataDir); err != nil {
		log.Warn("no status socket; 'party status' will show the offline view only", "err", err)
	} else {
		served.Add(1)
		go func() { defer served.Done(); a.ServeStatus(runCtx, lis) }()
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	select {
	case err := <-done: // refused for good by the coordinator
		stopRun()
		served.Wait()
		return err
	case <-cmd.Context().Done():
	}
	log.Info("stop signal received; shutting down", "drain_timeout", cfg.drainTimeout)
	a.Drain(cfg.drainTimeout)
	stopRun()
	runErr := <-done
	served.Wait()
	if err := ks.Close(); err != nil {
		return err
	}
	log.Info("device stopped; keystore closed")
	return runErr
}
