package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mpcsign/mpcsign/internal/config"
	"github.com/mpcsign/mpcsign/internal/home"
	"github.com/mpcsign/mpcsign/internal/logging"
	"github.com/mpcsign/mpcsign/keystore"
)

// settings names the environment variables and config file of the commands
// that open the keystore: --preparams-pool is MPCSIGN_PARTY_PREPARAMS_POOL
// and preparams_pool.
var settings = config.Scheme{EnvPrefix: "MPCSIGN_PARTY_", ConfigFlag: "config"}

// maxPoolTarget bounds --preparams-pool.
const maxPoolTarget = 64

// storeConfig is what a command that opens the keystore runs with, once
// flags, environment and config file are resolved. Every such command
// resolves all of it, so that one config file and one environment serve
// them all; only `party run` uses the agent's settings.
type storeConfig struct {
	configFile     string
	dataDir        string
	passphraseFile string
	logLevel       string
	logFormat      string
	// The agent's settings.
	preparamsPool int
	prompt        bool
	drainTimeout  time.Duration
}

// storeFlags registers a storeConfig on a command.
type storeFlags struct {
	storeConfig
	// set holds the settings: the flags that may also come from the
	// environment and the config file. The command's other flags (and its
	// hidden test-only ones) are not in it, so they have no environment
	// variable and no config file key.
	set *pflag.FlagSet
}

// register adds the keystore settings to a command. The agent's settings
// are not flags of it, but still come from the environment and the config
// file, where they are checked and ignored.
func (f *storeFlags) register(cmd *cobra.Command, environ []string) { f.add(cmd, environ, false) }

// registerAgent adds the keystore and agent settings to `party run`.
func (f *storeFlags) registerAgent(cmd *cobra.Command, environ []string) { f.add(cmd, environ, true) }

func (f *storeFlags) add(cmd *cobra.Command, environ []string, agent bool) {
	fs := pflag.NewFlagSet(cmd.Name(), pflag.ContinueOnError)
	fs.StringVar(&f.configFile, "config", "", "config file (TOML subset, see above); flags and environment variables override it")
	fs.StringVar(&f.dataDir, "data", filepath.Join(home.Dir(), "party"), "data directory of this device (encrypted keystore)")
	fs.StringVar(&f.passphraseFile, "passphrase-file", "", "file holding the keystore passphrase (default: the "+keystore.PassphraseEnv+" environment variable)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
	fs.IntVar(&f.preparamsPool, "preparams-pool", 2, fmt.Sprintf("pre-parameter sets to keep ready (1 to %d)", maxPoolTarget))
	fs.BoolVar(&f.prompt, "prompt", false, "ask on this terminal about signing requests whose policy is 'prompt'")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM, how long running sessions may take to finish before they are aborted")
	f.set = fs
	fs.VisitAll(func(fl *pflag.Flag) {
		if agent || !isAgentFlag(fl.Name) {
			cmd.Flags().AddFlag(fl)
		} else {
			fl.Hidden = true // not in this command's settings table
		}
	})

	if cmd.Long == "" {
		cmd.Long = cmd.Short + "."
	}
	cmd.Long += "\n\nSettings\n\n" + settings.Help(fs) + "\n\n" + secretHelp
	if !agent {
		cmd.Long += "\n\n" + agentHelp
	}
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error { return f.resolve(cmd, environ) }
}

const secretHelp = `The keystore passphrase is a secret: it is read only from the file that
passphrase-file names or from the MPC_PASSPHRASE environment variable, never
from a flag value, the config file or an MPCSIGN_PARTY_* variable. The
command's other flags are read from the command line only.`

const agentHelp = `The config file and the environment may also hold the settings of 'party
run' (preparams_pool, prompt, drain_timeout): this command checks them but does
not use them.`

// isAgentFlag reports whether a setting is one that only `party run` uses.
func isAgentFlag(name string) bool {
	return name == "preparams-pool" || name == "prompt" || name == "drain-timeout"
}

// resolve fills the settings the command line left unset from the
// environment and the config file, then checks every value. It reports
// every problem, each naming where the value came from.
func (f *storeFlags) resolve(cmd *cobra.Command, environ []string) error {
	src, err := settings.Resolve(f.set, environ)
	return errors.Join(f.explain(cmd, environ, err), f.validate(src))
}

// validate checks the resolved settings and reports every bad one.
func (c *storeConfig) validate(src *config.Sources) error {
	var errs []error
	bad := func(flag, format string, args ...any) {
		if !src.Refused(flag) { // already reported
			errs = append(errs, src.Errorf(flag, format, args...))
		}
	}
	if c.dataDir == "" {
		bad("data", "the data directory must not be empty")
	}
	if c.passphraseFile != "" {
		if st, err := os.Stat(c.passphraseFile); err != nil {
			bad("passphrase-file", "%v", err)
		} else if st.IsDir() {
			bad("passphrase-file", "%s is a directory", c.passphraseFile)
		}
	}
	if _, err := logging.New(io.Discard, c.logLevel, "text"); err != nil {
		bad("log-level", "%v", err)
	}
	if _, err := logging.New(io.Discard, "info", c.logFormat); err != nil {
		bad("log-format", "%v", err)
	}
	if c.preparamsPool < 1 || c.preparamsPool > maxPoolTarget {
		bad("preparams-pool", "%d is not from 1 to %d", c.preparamsPool, maxPoolTarget)
	}
	if c.drainTimeout <= 0 {
		bad("drain-timeout", "%s is not a positive duration", c.drainTimeout)
	}
	return errors.Join(errs...)
}

// notSetting is a name from the environment or the config file that the
// command refuses for a reason worth saying. It matches config.ErrUnknown.
type notSetting string

func (e notSetting) Error() string        { return string(e) }
func (e notSetting) Is(target error) bool { return target == config.ErrUnknown }

// why says why a name from the environment or the config file is not a
// setting, when an operator might expect it to be one: the passphrase (a
// secret), or a flag of the command line only. Empty: no reason beyond
// config's "unknown".
func (f *storeFlags) why(cmd *cobra.Command, name string) string {
	flag := strings.ReplaceAll(strings.ToLower(name), "_", "-")
	switch {
	case f.set.Lookup(flag) != nil:
		return ""
	case strings.Contains(flag, "passphrase"), strings.Contains(flag, "password"):
		return fmt.Sprintf("the keystore passphrase is a secret, never read from the config file or an %s* variable: name a file holding it with passphrase_file (%s, --passphrase-file), or set %s",
			settings.EnvPrefix, settings.EnvName("passphrase-file"), keystore.PassphraseEnv)
	case cmd.Flags().Lookup(flag) != nil:
		return fmt.Sprintf("--%s is read from the command line only, never from the config file or the environment", flag)
	}
	return ""
}

// explain replaces what config says about a name that is not a setting
// with why (see [storeFlags.why]). For a config file line that sets such a
// key (config's [config.Error.Key]) it replaces any error, a syntax error
// too: that would show the value, which may be a passphrase.
func (f *storeFlags) explain(cmd *cobra.Command, environ []string, err error) error {
	if err == nil {
		return nil
	}
	reasons := map[string]string{} // of environment variables, by config.Error.Source
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if name, ok := strings.CutPrefix(k, settings.EnvPrefix); ok {
			if r := f.why(cmd, name); r != "" {
				reasons["environment "+k] = r
			}
		}
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
		ce, ok := e.(*config.Error)
		if !ok {
			continue
		}
		if r, ok := reasons[ce.Source]; ok {
			out[i] = &config.Error{Source: ce.Source, Err: notSetting(r)}
		} else if ce.Key != "" {
			if r := f.why(cmd, ce.Key); r != "" {
				out[i] = &config.Error{Source: ce.Source, Key: ce.Key, Err: notSetting(ce.Key + ": " + r)}
			}
		}
	}
	return errors.Join(out...)
}
