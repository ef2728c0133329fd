package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/coordinator/registry/postgres"
	"github.com/mpcsign/mpcsign/coordinator/registry/postgres/pgtest"
)

// storeConfig is what 'mpcload store' runs with.
type storeConfig struct {
	keys, devices, audit int
	repeat, listRepeat   int
	store                string // a postgres:// URL; empty: a throwaway server
	binDir, dir          string
	logLevel, logFormat  string
	asJSON               bool
}

func newStoreCmd() *cobra.Command {
	var cfg storeConfig
	cmd := &cobra.Command{
		Use:   "store [--keys K] [--devices D] [--audit A] [--store postgres://...]",
		Short: "Measure the coordinator's API on a PostgreSQL store filled with many records",
		Long: `Fills a PostgreSQL database with K keys, D devices and A audit entries, in
bulk (COPY), with the registry's own record types: active devices with
real identity keys, 2-of-3 secp256k1 keys held by three devices each with
their holders' signed attestations, and signature entries sealed onto the
audit chain so that it verifies. Then it starts a real coordinator process
on the database ('coordinator serve --store', built from this tree unless
--bin-dir names it) and measures over gRPC with the admin token, repeating
each call and printing the median:

  GetKey of one key;
  SetDerivationOnly: a key update and its audit entry, in one transaction;
  the store's AppendAudit called directly from this process, on the
    filled database before the coordinator starts (a tool's store,
    postgres.Open, which refuses a database coordinator replicas serve);
  a device connecting: dial, the identity challenge, until the coordinator
    has sent where the device's keys stand (KeySync; its link carries no
    session before), for devices holding some 30 keys each;
  ListKeys and ListDevices, the first page of 100;
  the audit chain exported through ExportAudit in pages of 1000 and
    verified (what 'mpcctl audit export' and 'mpcctl audit verify' do);
  the coordinator's memory (VmRSS, RssAnon, VmHWM and Go heap in use) idle
    after start and after each group of calls.

Without --store it starts a throwaway PostgreSQL server (as the store's
tests do: unix socket only, fsync off, needs Debian's postgresql package).
With --store the database must be empty; the records written stay.

A run at the issue's scale: go run ./cmd/mpcload store --keys 100000 --devices 10000 --audit 1000000`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := runStore(cmd.Context(), cmd.ErrOrStderr(), cfg)
			if rep != nil {
				if perr := printReport(cmd.OutOrStdout(), cfg.asJSON, rep); perr != nil {
					return perr
				}
			}
			if err == nil && !rep.Audit.OK {
				err = fmt.Errorf("the audit chain does not verify: %s", rep.Audit.Broken)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.keys, "keys", 100000, "keys to write (2-of-3, each held by three of the devices)")
	f.IntVar(&cfg.devices, "devices", 10000, "devices to write (at least 3 when there are keys)")
	f.IntVar(&cfg.audit, "audit", 1000000, "audit entries to seal onto the chain")
	f.IntVar(&cfg.repeat, "repeat", 5, "repetitions of each lookup and append")
	f.IntVar(&cfg.listRepeat, "list-repeat", 3, "repetitions of each listing")
	f.StringVar(&cfg.store, "store", "", "an empty PostgreSQL database to fill, as a postgres:// URL without a password (default: a throwaway server)")
	registerRunFlags(f, &cfg.binDir, &cfg.dir, &cfg.logLevel, &cfg.logFormat, &cfg.asJSON, "the coordinator binary")
	return cmd
}

func (c storeConfig) check() error {
	switch {
	case c.keys < 0 || c.devices < 0 || c.audit < 0:
		return errors.New("--keys, --devices and --audit cannot be negative")
	case c.keys > 0 && c.devices < fillHolders:
		return fmt.Errorf("--devices must be at least %d for keys held by %d devices", fillHolders, fillHolders)
	case c.repeat < 1 || c.listRepeat < 1:
		return errors.New("--repeat and --list-repeat must be at least 1")
	}
	return checkStoreURL(c.store)
}

// storeTimeouts bound the slow steps (hang guards, not speed targets).
const (
	storeFillTimeout = 2 * time.Hour
	storeCallTimeout = 15 * time.Minute // one listing of everything
	storeSettle      = 2 * time.Second  // the coordinator idles before its memory is read
)

// runStore fills the database, starts the coordinator on it and measures.
// The report is returned, as far as it got, even with an error.
func runStore(ctx context.Context, log io.Writer, cfg storeConfig) (rep *storeReport, err error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	r := &loadRun{cfg: loadConfig{logLevel: cfg.logLevel, logFormat: cfg.logFormat}, log: log, dir: cfg.dir}
	done, err := r.prepare("mpcsign-store-")
	if err != nil {
		return nil, err
	}
	defer func() { done(err) }()
	db, err := openStoreDB(r, cfg.store)
	if err != nil {
		return nil, err
	}
	defer db.close()
	defer r.stopAll() // before the database stops
	rep = &storeReport{Asked: storeShape{Keys: cfg.keys, Devices: cfg.devices, Audit: cfg.audit}, Database: db.what, LoadAverageStart: loadAverage()}
	fill, err := fillStore(ctx, r, db.url, cfg, rep)
	if err != nil {
		return rep, err
	}
	m := &storeMeasure{run: r, cfg: cfg, rep: rep, fill: fill, url: db.url}
	if err := m.storeAppend(ctx); err != nil {
		return rep, err
	}
	binDir := cfg.binDir
	if binDir == "" {
		binDir = filepath.Join(r.dir, "bin")
		r.logf("building the coordinator")
		if err := buildCoordinator(ctx, binDir); err != nil {
			return rep, err
		}
	}
	r.logf("starting the coordinator on the database")
	if m.metricsAddr, err = r.startCoordinator(binDir, "--store", db.url); err != nil {
		return rep, err
	}
	if err := m.all(ctx); err != nil {
		return rep, err
	}
	rep.LoadAverageEnd = loadAverage()
	if !r.procs[0].stop() {
		rep.Warnings = append(rep.Warnings, "the coordinator did not exit cleanly on SIGTERM")
	}
	rep.Warnings = append(rep.Warnings, r.scanLogs()...)
	return rep, nil
}

// storeDB is the database measured: a throwaway server's, or --store's.
type storeDB struct {
	url  string
	what string
	srv  *pgtest.Server
}

func openStoreDB(r *loadRun, url string) (*storeDB, error) {
	if url != "" {
		return &storeDB{url: url, what: "PostgreSQL at --store"}, nil
	}
	r.logf("starting a throwaway PostgreSQL server")
	srv, err := pgtest.Start()
	if err != nil {
		return nil, fmt.Errorf("a throwaway PostgreSQL server (or pass --store): %w", err)
	}
	name, err := srv.CreateDB()
	if err != nil {
		srv.Stop()
		return nil, fmt.Errorf("create a database: %w\n%s", err, srv.LogTail())
	}
	return &storeDB{url: srv.URL(name), srv: srv,
		what: "throwaway PostgreSQL (unix socket; fsync, synchronous_commit and full_page_writes off; shared_buffers 32MB)"}, nil
}

func (db *storeDB) close() {
	if db.srv != nil {
		db.srv.Stop()
	}
}

// storeFill is what fillStore wrote that the measurements use.
type storeFill struct {
	keyIDs []string
	fleet  *fleet
}

// fillStore writes the devices, keys and audit entries in bulk and checks
// the database holds what was asked.
func fillStore(ctx context.Context, r *loadRun, url string, cfg storeConfig, rep *storeReport) (*storeFill, error) {
	ctx, cancel := context.WithTimeout(ctx, storeFillTimeout)
	defer cancel()
	bulk, err := postgres.OpenBulk(ctx, url)
	if err != nil {
		return nil, err
	}
	defer bulk.Close()
	if c, err := bulk.Counts(ctx); err != nil {
		return nil, err
	} else if !c.Empty() {
		return nil, fmt.Errorf("the database is not empty (%d keys, %d devices, %d pairing codes, %d tokens, %d audit entries): give an empty one", c.Keys, c.Devices, c.Pairings, c.Tokens, c.Audit)
	}
	now := time.Now().UTC().Truncate(time.Second)
	step := func(what string, n int, fn func() error) error {
		r.logf("writing %d %s", n, what)
		t0 := time.Now()
		if err := fn(); err != nil {
			return err
		}
		rep.Fill = append(rep.Fill, fillStep{What: what, Records: n, Seconds: roundTo(time.Since(t0).Seconds(), 0.01)})
		return nil
	}
	var fl *fleet
	if err := step("devices", cfg.devices, func() (err error) {
		if fl, err = newFleet(cfg.devices, now); err != nil {
			return err
		}
		return bulk.PutDevices(ctx, cfg.devices, func(i int) (registry.Device, error) { return fl.devs[i], nil })
	}); err != nil {
		return nil, err
	}
	km, err := newKeyMaker(fl, now)
	if err != nil {
		return nil, err
	}
	// PutKeys asks for the keys in order, once each: key remembers them.
	if err := step("keys", cfg.keys, func() error { return bulk.PutKeys(ctx, cfg.keys, km.key) }); err != nil {
		return nil, err
	}
	am, err := newAuditMaker(km, cfg.audit, now)
	if err != nil {
		return nil, err
	}
	if err := step("audit entries", cfg.audit, func() error { _, err := bulk.AppendAudit(ctx, cfg.audit, am.entry); return err }); err != nil {
		return nil, err
	}
	c, err := bulk.Counts(ctx)
	if err != nil {
		return nil, err
	}
	rep.Stored = storeShape{Keys: int(c.Keys), Devices: int(c.Devices), Audit: int(c.Audit)}
	rep.DatabaseMiB = roundTo(float64(c.Bytes)/(1<<20), 0.1)
	if rep.Stored != rep.Asked || c.AuditHead != uint64(cfg.audit) {
		return nil, fmt.Errorf("the database holds %+v (audit head %d), not what was asked: %+v", rep.Stored, c.AuditHead, rep.Asked)
	}
	return &storeFill{keyIDs: km.ids, fleet: fl}, nil
}
