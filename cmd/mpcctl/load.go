package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
)

// loadConfig is what 'mpcctl load' runs with.
type loadConfig struct {
	clients, keys, parties, threshold int
	duration, rawDuration, sample     time.Duration
	binDir, fixtures, dir             string
	logLevel, logFormat               string
}

func newLoadCmd(g *globals) *cobra.Command {
	cfg := loadConfig{}
	cmd := &cobra.Command{
		Use:   "load [--clients C] [--keys M] [--parties N] [--threshold T] [--duration D]",
		Short: "Measure signing throughput and memory against a throwaway local cluster",
		Long: `Starts a coordinator and N device agents as separate processes on 127.0.0.1
(the coordinator and party binaries are built with 'go build' into a
temporary directory unless --bin-dir names them), creates M keys held by all N
devices with threshold T, then runs C concurrent wallet clients, each with its
own connection, calling Sign for --duration. Every signature is verified
independently under its key's public key; afterwards every request id that
got a signature is asked again and must return the same one, as a replay.

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

A soak: mpcctl load --clients 4 --keys 3 --duration 10m

The cluster is throwaway: its devices use the public TEST-ONLY
pre-parameters of --insecure-test-preparams (the repository's
testdata/preparams), so its keys are not safe and are deleted at the end.
Generating real pre-parameters would take minutes per key and device and
would compete with the measurement.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := runLoad(cmd.Context(), cmd.ErrOrStderr(), cfg)
			if rep != nil {
				if g.asJSON {
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
	f.StringVar(&cfg.binDir, "bin-dir", "", "directory holding the coordinator and party binaries (default: build them)")
	f.StringVar(&cfg.fixtures, "insecure-test-preparams", filepath.Join("testdata", "preparams"), "directory of the TEST-ONLY-set-N.json pre-parameter fixtures")
	f.StringVar(&cfg.dir, "dir", "", "directory for the cluster's data and logs, kept afterwards (default: a temporary directory, removed unless the run fails)")
	f.StringVar(&cfg.logLevel, "log-level", "warn", "log level of the coordinator and devices")
	f.StringVar(&cfg.logFormat, "log-format", "text", "log format of the coordinator and devices: text or json")
	return cmd
}

// loadTimeouts bound the setup steps (hang guards, not speed targets).
const (
	loadStartTimeout = time.Minute      // a process starts and says where it listens
	loadReadyTimeout = 3 * time.Minute  // devices connect and report pre-parameters
	loadKeyTimeout   = 10 * time.Minute // one key generation
	loadCallTimeout  = 2 * time.Minute  // one Sign call
	loadStopGrace    = 30 * time.Second // a process exits after SIGTERM
)

// runLoad runs the whole measurement. The report is returned, as far as it
// got, even with an error.
func runLoad(ctx context.Context, log io.Writer, cfg loadConfig) (rep *loadReport, err error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	plan, err := planFixtures(cfg)
	if err != nil {
		return nil, err
	}
	r := &loadRun{cfg: cfg, log: log, dir: cfg.dir}
	if r.dir == "" {
		if r.dir, err = os.MkdirTemp("", "mpcsign-load-"); err != nil {
			return nil, err
		}
		defer func() {
			if err == nil {
				os.RemoveAll(r.dir)
			} else {
				r.logf("data and logs kept in %s", r.dir)
			}
		}()
	}
	r.logDir = filepath.Join(r.dir, "logs")
	if err := os.MkdirAll(r.logDir, 0o700); err != nil {
		return nil, err
	}
	r.env = loadEnv(filepath.Join(r.dir, "home"))
	defer r.stopAll()

	// The raw baseline's key is made while the cluster starts: it is setup,
	// not measured.
	ctx, cancel := context.WithCancel(ctx)
	rawKey := make(chan rawKeyResult, 1)
	defer func() { cancel(); <-rawKey }()
	if cfg.rawDuration > 0 {
		go func() { rawKey <- rawKeygen(ctx, cfg.threshold, plan.raw) }()
	} else {
		rawKey <- rawKeyResult{}
	}

	binDir := cfg.binDir
	if binDir == "" {
		binDir = filepath.Join(r.dir, "bin")
		r.logf("building the coordinator and party binaries")
		if err := buildBinaries(ctx, binDir); err != nil {
			return nil, err
		}
	}
	metricsAddr, err := r.startCoordinator(binDir)
	if err != nil {
		return nil, err
	}
	admin, closeAdmin, err := r.client("admin")
	if err != nil {
		return nil, err
	}
	defer closeAdmin()
	names, err := r.startParties(ctx, admin, binDir, plan.party)
	if err != nil {
		return nil, err
	}
	keys, err := r.createKeys(ctx, admin, names)
	if err != nil {
		return nil, err
	}

	rep = &loadReport{Shape: loadShape{Parties: cfg.parties, Threshold: cfg.threshold, SignersPerSignature: cfg.threshold + 1,
		Keys: cfg.keys, Clients: cfg.clients, Duration: cfg.duration.String()}}
	// The raw baseline runs just before the clients and again just after
	// them, so that a change in the machine's load shows.
	var rk rawKeyResult
	var rawRuns []*rawRun
	runRaw := func(when string) error {
		r.logf("raw tss-lib baseline (%s the clients): %d concurrent signers for %s", when, cfg.clients, cfg.rawDuration)
		raw, err := rawSign(ctx, rk, cfg)
		if err != nil {
			return fmt.Errorf("raw tss-lib baseline: %w", err)
		}
		rawRuns = append(rawRuns, raw)
		return nil
	}
	if cfg.rawDuration > 0 {
		rk = <-rawKey
		rawKey <- rk // for the deferred wait
		if rk.err != nil {
			return rep, fmt.Errorf("raw tss-lib baseline: %w", rk.err)
		}
		if err := runRaw("before"); err != nil {
			return rep, err
		}
	}

	r.logf("signing with %d clients for %s", cfg.clients, cfg.duration)
	rep.LoadAverageStart = loadAverage()
	smp := startSampler(ctx, r.procs, metricsAddr, cfg.sample)
	res, err := r.signLoad(ctx, keys)
	samples := smp.stop()
	rep.LoadAverageEnd = loadAverage()
	if err != nil {
		return rep, err
	}
	rep.Service = res.stats()
	rep.ErrorsByCode = res.codes
	rep.ErrorSamples = res.samples
	rep.Processes = samples.processes(r.procs)
	rep.CoordinatorGoroutines = samples.goroutines
	rep.CoordinatorHeap = samples.heap
	rep.CoordinatorHeapHeld = samples.held
	if cfg.rawDuration > 0 {
		if err := runRaw("after"); err != nil {
			return rep, err
		}
		rep.Raw = rawStats(rawRuns...)
		for _, rr := range rawRuns {
			rep.RawRuns = append(rep.RawRuns, math.Round(100*rr.perSecond())/100)
		}
		if rep.Raw.PerSecond > 0 {
			rep.Ratio = math.Round(100*rep.Service.PerSecond/rep.Raw.PerSecond) / 100
		}
	}

	signer, closeSigner, err := r.client("signer")
	if err != nil {
		return rep, err
	}
	defer closeSigner()
	rep.Replay = replayAll(ctx, signer, res.done)
	rep.SessionsInFlight, rep.SignSessions = sessionsAfter(ctx, metricsAddr)
	rep.Warnings = r.scanLogs()
	for _, p := range r.procs[1:] {
		if !p.stop() {
			rep.Warnings = append(rep.Warnings, p.name+" did not exit cleanly on SIGTERM")
		}
	}
	if !r.procs[0].stop() {
		rep.Warnings = append(rep.Warnings, "the coordinator did not exit cleanly on SIGTERM")
	}
	return rep, nil
}

func (c loadConfig) check() error {
	switch {
	case c.clients < 1 || c.clients > 1024:
		return errors.New("--clients must be 1 to 1024")
	case c.keys < 1:
		return errors.New("--keys must be at least 1")
	case c.parties < 2:
		return errors.New("--parties must be at least 2")
	case c.threshold < 1 || c.threshold >= c.parties:
		return fmt.Errorf("--threshold %d does not fit %d parties: 1 <= t <= %d", c.threshold, c.parties, c.parties-1)
	case c.duration <= 0:
		return errors.New("--duration must be positive")
	case c.sample <= 0:
		return errors.New("--sample-every must be positive")
	}
	return nil
}
