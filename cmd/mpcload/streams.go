package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// streamsConfig is what 'mpcload streams' runs with.
type streamsConfig struct {
	devices, dialers    int
	hold                time.Duration
	binDir, dir         string
	logLevel, logFormat string
	asJSON              bool
}

func newStreamsCmd() *cobra.Command {
	var cfg streamsConfig
	cmd := &cobra.Command{
		Use:   "streams [--devices N] [--hold D]",
		Short: "Measure the coordinator's memory per idle device stream",
		Long: `Writes N active devices, each with its own identity key, into a coordinator's
Badger store, starts a real coordinator process on it (built from this tree
unless --bin-dir names it) and connects every device the way a device agent
does: its own TLS connection pinned to the coordinator's certificate, a
PartyLinkService.Connect stream, the identity challenge answered, a status
report, and the agent's keepalive. The device side runs in this process, one
goroutine per stream.

Once the coordinator reports every device connected (its metrics, then
ListDevices' online state), the streams are held idle for --hold, and the
coordinator's memory is read: it prints the streams held, the coordinator's
resident memory (VmRSS) before and with them, the memory per stream, and
the streams one GiB would hold at that rate. Open files: the limit is
raised to what N streams need, within the hard limit.

The issue's target, 10,000 streams in under 1 GiB: go run ./cmd/mpcload streams --devices 10000`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := runStreams(cmd.Context(), cmd.ErrOrStderr(), cfg)
			if rep != nil {
				if perr := printReport(cmd.OutOrStdout(), cfg.asJSON, rep); perr != nil {
					return perr
				}
			}
			if err == nil && (rep.Failed > 0 || rep.Connected != rep.Asked || rep.Online != rep.Asked || rep.Ended > 0) {
				err = fmt.Errorf("%d of %d streams held (%d failed to open, %d ended while held)", rep.Online, rep.Asked, rep.Failed, rep.Ended)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.devices, "devices", 10000, "devices to connect, one stream each")
	f.IntVar(&cfg.dialers, "dialers", 32, "devices connecting at once")
	f.DurationVar(&cfg.hold, "hold", 30*time.Second, "how long the streams are held idle before the memory is read (keepalive pings every 15s)")
	registerRunFlags(f, &cfg.binDir, &cfg.dir, &cfg.logLevel, &cfg.logFormat, &cfg.asJSON, "the coordinator binary")
	return cmd
}

func (c streamsConfig) check() error {
	switch {
	case c.devices < 1:
		return errors.New("--devices must be at least 1")
	case c.dialers < 1:
		return errors.New("--dialers must be at least 1")
	case c.hold < 0:
		return errors.New("--hold cannot be negative")
	}
	return nil
}

// streamsTimeouts bound the slow steps (hang guards, not speed targets).
const (
	streamsConnectTimeout = 5 * time.Minute // the coordinator reports every device connected
	streamsFileMargin     = 512             // open files beyond one per stream
)

// runStreams runs the measurement. The report is returned, as far as it
// got, even with an error.
func runStreams(ctx context.Context, log io.Writer, cfg streamsConfig) (rep *streamsReport, err error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := raiseFileLimit(uint64(cfg.devices + streamsFileMargin)); err != nil {
		return nil, fmt.Errorf("%d streams: %w", cfg.devices, err)
	}
	r := &loadRun{cfg: loadConfig{logLevel: cfg.logLevel, logFormat: cfg.logFormat}, log: log, dir: cfg.dir}
	done, err := r.prepare("mpcsign-streams-")
	if err != nil {
		return nil, err
	}
	defer func() { done(err) }()
	defer r.stopAll()
	rep = &streamsReport{Asked: cfg.devices, LoadAverageStart: loadAverage()}
	metricsAddr, fl, err := r.startStreamsCoordinator(ctx, cfg, rep)
	if err != nil {
		return rep, err
	}
	time.Sleep(storeSettle)
	rep.Idle = r.coordinatorMemory(ctx, metricsAddr, "idle, no stream")

	addr, pins, err := r.target.Endpoint()
	if err != nil {
		return rep, err
	}
	r.logf("connecting %d devices, %d at a time", cfg.devices, cfg.dialers)
	t0 := time.Now()
	streams := openStreams(ctx, addr, pins[0], fl, cfg.dialers)
	defer streams.close()
	rep.OpenSeconds = roundTo(time.Since(t0).Seconds(), 0.01)
	rep.Opened, rep.Failed = int(streams.opened.Load()), int(streams.failed.Load())
	if streams.err != nil {
		rep.FailedSample = streams.err.Error()
	}
	if rep.Connected, err = waitConnected(ctx, metricsAddr, rep.Opened); err != nil {
		return rep, err
	}
	r.logf("%d streams open; holding them for %s", rep.Connected, cfg.hold)
	time.Sleep(cfg.hold)
	rep.Held = r.coordinatorMemory(ctx, metricsAddr, fmt.Sprintf("with the streams, after %s", cfg.hold))
	rep.Ended = int(streams.ended.Load())
	if rep.Online, err = r.onlineDevices(ctx); err != nil {
		return rep, err
	}
	if m, ok := procStatus(os.Getpid()); ok {
		rep.ClientRSSKiB = m.rss
	}
	rep.LoadAverageEnd = loadAverage()
	rep.compute()
	streams.close()
	if !r.procs[0].stop() {
		rep.Warnings = append(rep.Warnings, "the coordinator did not exit cleanly on SIGTERM")
	}
	rep.Warnings = append(rep.Warnings, r.scanLogs()...)
	return rep, nil
}

// startStreamsCoordinator makes the fleet, writes it into the coordinator's
// store, builds the coordinator (unless --bin-dir names it) and starts it.
func (r *loadRun) startStreamsCoordinator(ctx context.Context, cfg streamsConfig, rep *streamsReport) (string, *fleet, error) {
	r.logf("making %d device identities and enrolling them in the store", cfg.devices)
	t0 := time.Now()
	fl, err := newFleet(cfg.devices, time.Now().UTC())
	if err != nil {
		return "", nil, err
	}
	coordDir := filepath.Join(r.dir, "coordinator")
	if err := os.MkdirAll(coordDir, 0o700); err != nil {
		return "", nil, err
	}
	if err := enrolDevices(ctx, filepath.Join(coordDir, "store"), fl, 64); err != nil {
		return "", nil, err
	}
	rep.EnrolSeconds = roundTo(time.Since(t0).Seconds(), 0.01)
	binDir := cfg.binDir
	if binDir == "" {
		binDir = filepath.Join(r.dir, "bin")
		r.logf("building the coordinator")
		if err := buildCoordinator(ctx, binDir); err != nil {
			return "", nil, err
		}
	}
	metricsAddr, err := r.startCoordinator(binDir)
	return metricsAddr, fl, err
}

// coordinatorMemory reads the coordinator's memory and, from its metrics,
// its Go heap in use and goroutines.
func (r *loadRun) coordinatorMemory(ctx context.Context, metricsAddr, when string) streamsMemory {
	out := streamsMemory{memPoint: memPoint{When: when}}
	if pm, ok := procStatus(r.procs[0].cmd.Process.Pid); ok {
		out.RSSKiB, out.AnonKiB, out.HWMKiB = pm.rss, pm.anon, pm.hwm
	}
	if ms, err := scrapeMetrics(ctx, metricsAddr); err == nil {
		if v := ms["go_memstats_heap_inuse_bytes"]; len(v) > 0 {
			out.HeapKiB = int64(v[0].value) / 1024
		}
		if v := ms["go_goroutines"]; len(v) > 0 {
			out.Goroutines = int(v[0].value)
		}
	}
	return out
}

// waitConnected waits until the coordinator's metrics count want devices
// connected, and returns the count.
func waitConnected(ctx context.Context, metricsAddr string, want int) (int, error) {
	deadline := time.Now().Add(streamsConnectTimeout)
	for {
		ms, err := scrapeMetrics(ctx, metricsAddr)
		n := -1
		if err == nil {
			n = int(ms.sum("mpc_devices_connected", nil))
			if n >= want {
				return n, nil
			}
		}
		if time.Now().After(deadline) {
			return n, fmt.Errorf("the coordinator counts %d devices connected, want %d after %s (metrics: %v)", n, want, streamsConnectTimeout, err)
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// onlineDevices counts the devices ListDevices shows online, page by page.
func (r *loadRun) onlineDevices(ctx context.Context) (int, error) {
	conn, err := r.target.Dial("admin")
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	admin := mpcv1.NewAdminServiceClient(conn)
	n := 0
	for token := ""; ; {
		resp, err := admin.ListDevices(ctx, &mpcv1.ListDevicesRequest{PageSize: 100, PageToken: token}, bigAnswers)
		if err != nil {
			return 0, fmt.Errorf("ListDevices: %w", err)
		}
		for _, d := range resp.GetDevices() {
			if d.GetOnline() {
				n++
			}
		}
		if token = resp.GetNextPageToken(); token == "" {
			return n, nil
		}
	}
}
