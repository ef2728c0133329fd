package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

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
	// flag of the command line only, not a setting.
	testPreparams string
}

// runFunc runs the agent with resolved, valid settings.
type runFunc func(cmd *cobra.Command, cfg runConfig) error

func newRunCmd(environ []string, run runFunc) *cobra.Command {
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
	cmd.Flags().StringVar(&testPreparams, "insecure-test-preparams", "", "TEST ONLY: import public pre-parameters from a fixture file")
	_ = cmd.Flags().MarkHidden("insecure-test-preparams")
	return cmd
}

// runAgent runs the agent until ctx ends.
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
	return a.Run(cmd.Context())
}

func importTestPreparams(a *party.Agent, path string, log *slog.Logger) error {
	added, err := party.ImportTestFixtures(a, path)
	if err != nil {
		return err
	}
	log.Warn("INSECURE: imported TEST-ONLY pre-parameters; keys made with them are not safe", "sets", added)
	return nil
}

func newStatusCmd(environ []string) *cobra.Command {
	var f storeFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show this device's enrolment, the shares it holds and its pre-parameter pool",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ks, log, err := f.open(cmd)
			if err != nil {
				return err
			}
			defer ks.Close()
			a, err := party.New(party.Options{Store: ks, Logger: log})
			if err != nil {
				return err
			}
			shares, err := a.Shares()
			if err != nil {
				return err
			}
			cfg := a.Config()
			type shareOut struct {
				KeyID     string `json:"key_id"`
				Epoch     uint64 `json:"epoch"`
				State     string `json:"state"`
				Threshold int    `json:"threshold"`
				PublicKey string `json:"public_key"`
			}
			out := struct {
				Device          party.Config `json:"device"`
				PreparamsReady  int          `json:"preparams_ready"`
				PreparamsTarget int          `json:"preparams_target"`
				Shares          []shareOut   `json:"shares"`
			}{Device: cfg, PreparamsReady: a.Pool().Ready(), PreparamsTarget: a.Pool().Target()}
			for _, s := range shares {
				out.Shares = append(out.Shares, shareOut{s.KeyID, s.Epoch, string(s.State), s.Threshold, fmt.Sprintf("%x", s.PublicKey)})
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			fmt.Fprintf(w, "device %q (%s), coordinator %s\n", cfg.Name, cfg.DeviceID, cfg.Address)
			fmt.Fprintf(w, "pre-parameters ready: %d/%d\n", out.PreparamsReady, out.PreparamsTarget)
			for _, s := range out.Shares {
				fmt.Fprintf(w, "share of %s epoch %d (%s), threshold %d, public key %s\n", s.KeyID, s.Epoch, s.State, s.Threshold, s.PublicKey)
			}
			return nil
		},
	}
	f.register(cmd, environ)
	cmd.Flags().BoolVar(&asJSON, "json", false, "machine-readable output")
	return cmd
}
