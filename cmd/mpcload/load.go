package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"time"
)

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
	done, err := r.prepare("mpcsign-load-")
	if err != nil {
		return nil, err
	}
	defer func() { done(err) }()
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

	cl, err := r.startCluster(ctx, plan)
	if err != nil {
		return nil, err
	}
	defer cl.closeAdmin()
	rep = &loadReport{Shape: loadShape{Parties: cfg.parties, Threshold: cfg.threshold, SignersPerSignature: cfg.threshold + 1,
		Keys: cfg.keys, Clients: cfg.clients, Duration: cfg.duration.String()}}
	var rk rawKeyResult
	if cfg.rawDuration > 0 {
		rk = <-rawKey
		rawKey <- rk // for the deferred wait
		if rk.err != nil {
			return rep, fmt.Errorf("raw tss-lib baseline: %w", rk.err)
		}
	}
	res, err := r.measure(ctx, rep, cl, rk)
	if err != nil {
		return rep, err
	}
	return rep, r.finish(ctx, rep, cl, res)
}

// loadCluster is the started cluster: the coordinator's metrics address,
// an admin client and the keys the clients sign with.
type loadCluster struct {
	metricsAddr string
	admin       *mpcv1Clients
	closeAdmin  func()
	keys        []loadKey
}

// startCluster builds the binaries (unless --bin-dir names them), starts
// the coordinator and the parties, and creates the keys.
func (r *loadRun) startCluster(ctx context.Context, plan fixturePlan) (*loadCluster, error) {
	binDir := r.cfg.binDir
	if binDir == "" {
		binDir = filepath.Join(r.dir, "bin")
		r.logf("building the coordinator and party binaries")
		if err := buildBinaries(ctx, binDir); err != nil {
			return nil, err
		}
	}
	metricsAddr, err := r.startCoordinator(binDir, "--auto-approve")
	if err != nil {
		return nil, err
	}
	admin, closeAdmin, err := r.client("admin")
	if err != nil {
		return nil, err
	}
	cl := &loadCluster{metricsAddr: metricsAddr, admin: admin, closeAdmin: closeAdmin}
	names, err := r.startParties(ctx, admin, binDir, plan.party)
	if err == nil {
		cl.keys, err = r.createKeys(ctx, admin, names)
	}
	if err != nil {
		closeAdmin()
		return nil, err
	}
	return cl, nil
}

// measure runs the clients for --duration, with the raw baseline (when
// there is one) just before them and again just after them, so that a
// change in the machine's load shows, and fills rep's figures.
func (r *loadRun) measure(ctx context.Context, rep *loadReport, cl *loadCluster, rk rawKeyResult) (*loadResult, error) {
	cfg := r.cfg
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
		if err := runRaw("before"); err != nil {
			return nil, err
		}
	}

	r.logf("signing with %d clients for %s", cfg.clients, cfg.duration)
	rep.LoadAverageStart = loadAverage()
	smp := startSampler(ctx, r.procs, cl.metricsAddr, cfg.sample)
	res, err := r.signLoad(ctx, cl.keys)
	samples := smp.stop()
	rep.LoadAverageEnd = loadAverage()
	if err != nil {
		return nil, err
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
			return nil, err
		}
		rep.Raw = rawStats(rawRuns...)
		for _, rr := range rawRuns {
			rep.RawRuns = append(rep.RawRuns, math.Round(100*rr.perSecond())/100)
		}
		if rep.Raw.PerSecond > 0 {
			rep.Ratio = math.Round(100*rep.Service.PerSecond/rep.Raw.PerSecond) / 100
		}
	}
	return res, nil
}

// finish asks again for every signature the clients got, reads what the
// coordinator still runs and what the logs say, and stops the cluster,
// coordinator last.
func (r *loadRun) finish(ctx context.Context, rep *loadReport, cl *loadCluster, res *loadResult) error {
	signer, closeSigner, err := r.client("signer")
	if err != nil {
		return err
	}
	defer closeSigner()
	rep.Replay = replayAll(ctx, signer, res.done)
	rep.SessionsInFlight, rep.SignSessions = sessionsAfter(ctx, cl.metricsAddr)
	rep.Warnings = r.scanLogs()
	for _, p := range r.procs[1:] {
		if !p.stop() {
			rep.Warnings = append(rep.Warnings, p.name+" did not exit cleanly on SIGTERM")
		}
	}
	if !r.procs[0].stop() {
		rep.Warnings = append(rep.Warnings, "the coordinator did not exit cleanly on SIGTERM")
	}
	return nil
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
