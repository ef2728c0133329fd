// Command mpcload measures signing throughput and memory against a
// throwaway local cluster: a coordinator and device agents started as
// separate processes on 127.0.0.1, with the public TEST-ONLY
// pre-parameters of testdata/preparams.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/cli"
)

func main() {
	cli.Exit("mpcload", cli.Execute(newRootCmd(withTestFixtures)))
}

// loadConfig is what mpcload runs with.
type loadConfig struct {
	clients, keys, parties, threshold int
	duration, rawDuration, sample     time.Duration
	binDir, fixtures, dir             string
	logLevel, logFormat               string
	asJSON                            bool
}

// newRootCmd builds the command. testFlags registers the hidden TEST-ONLY
// --insecure-test-preparams (withTestFixtures: only in a build with -tags
// testfixtures); without it the fixtures are the repository's
// testdata/preparams.
func newRootCmd(testFlags bool) *cobra.Command {
	cfg := loadConfig{fixtures: filepath.Join("testdata", "preparams")}
	cmd := &cobra.Command{
		Use:   "mpcload [--clients C] [--keys M] [--parties N] [--threshold T] [--duration D]",
		Short: "Measure signing throughput and memory against a throwaway local cluster",
		Long: `Starts a coordinator and N device agents as separate processes on 127.0.0.1
(the coordinator and party binaries are built with 'go build -tags
testfixtures' into a temporary directory unless --bin-dir names them),
creates M keys held by all N devices with threshold T, then runs C concurrent
wallet clients, each with its own connection, calling Sign for --duration.
Every signature is verified independently under its key's public key;
afterwards every request id that got a signature is asked again and must
return the same one, as a replay.

It prints signatures per second, latency percentiles, errors by gRPC code,
each process's peak memory (VmHWM) and the trend of its resident memory, all
of it and its anonymous part, which leaves out the mapped files of BadgerDB
(mean of the first quarter of the samples against the last), the
coordinator's Go heap and goroutines (from its metrics endpoint) and the
sessions it still runs once every call has returned. For comparison it also
prints the same shape of key signed by raw tss-lib parties inside this
process on the same cores, with the same number of concurrent signers, just
before the clients start, and the ratio of the two throughputs. The machine's
load average is printed too: on a shared machine the figures move with it.

A soak: go run ./cmd/mpcload --clients 4 --keys 3 --duration 10m

The cluster is throwaway: its devices use the public TEST-ONLY
pre-parameters of the repository's testdata/preparams (run it from the
repository's root), so its keys are not safe and are deleted at the end.
Generating real pre-parameters would take minutes per key and device and
would compete with the measurement.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd, cfg)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.clients, "clients", 4, "concurrent wallet clients")
	f.IntVar(&cfg.keys, "keys", 1, "keys to create and sign with (round robin)")
	f.IntVar(&cfg.parties, "parties", 3, "device agents; every key is held by all of them")
	f.IntVar(&cfg.threshold, "threshold", 1, "threshold t of each key: t+1 devices sign")
	f.DurationVar(&cfg.duration, "duration", time.Minute, "how long the clients send requests")
	f.DurationVar(&cfg.rawDuration, "raw-duration", 20*time.Second, "how long the raw tss-lib baseline runs (0: skip it)")
	f.DurationVar(&cfg.sample, "sample-every", 5*time.Second, "interval of the memory and goroutine samples")
	f.StringVar(&cfg.binDir, "bin-dir", "", "directory holding the coordinator and party binaries, the party built with -tags testfixtures (default: build them)")
	f.StringVar(&cfg.dir, "dir", "", "directory for the cluster's data and logs, kept afterwards (default: a temporary directory, removed unless the run fails)")
	f.StringVar(&cfg.logLevel, "log-level", "warn", "log level of the coordinator and devices")
	f.StringVar(&cfg.logFormat, "log-format", "text", "log format of the coordinator and devices: text or json")
	f.BoolVar(&cfg.asJSON, "json", false, "machine-readable JSON output")
	if testFlags {
		registerTestPreparams(cmd, &cfg.fixtures)
	}
	cmd.AddCommand(newStoreCmd(), newStreamsCmd())
	return cmd
}

// registerTestPreparams adds the hidden TEST-ONLY --insecure-test-preparams
// flag: another directory of fixtures than testdata/preparams.
func registerTestPreparams(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "insecure-test-preparams", *dir, "directory of the TEST-ONLY-set-N.json pre-parameter fixtures")
	_ = cmd.Flags().MarkHidden("insecure-test-preparams")
}

// run runs the measurement and prints its report, also when it failed
// part way.
func run(cmd *cobra.Command, cfg loadConfig) error {
	rep, err := runLoad(cmd.Context(), cmd.ErrOrStderr(), cfg)
	if rep != nil {
		if cfg.asJSON {
			if perr := printJSON(cmd.OutOrStdout(), rep); perr != nil {
				return perr
			}
		} else {
			rep.print(cmd.OutOrStdout())
		}
	}
	if err == nil && rep.Service.Wrong+rep.Replay.Mismatched+rep.SessionsInFlight > 0 {
		err = fmt.Errorf("%d wrong signatures, %d request ids that did not replay their signature, %d sessions stuck after the run",
			rep.Service.Wrong, rep.Replay.Mismatched, rep.SessionsInFlight)
	}
	return err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
