package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/mpcsign/mpcsign/coordinator"
	"github.com/mpcsign/mpcsign/coordinator/console"
	"github.com/mpcsign/mpcsign/coordinator/registry/postgres"
	"github.com/mpcsign/mpcsign/internal/crashtest"
	"github.com/mpcsign/mpcsign/internal/home"
	"github.com/mpcsign/mpcsign/internal/logging"
)

// serveConfig is what `coordinator serve` runs with, once flags,
// environment and config file are resolved (see settings.go).
type serveConfig struct {
	configFile    string
	dataDir       string
	listen        string
	advertise     string
	metricsListen string
	consoleListen string
	logLevel      string
	logFormat     string
	autoApprove   bool
	drainTimeout  time.Duration
	store         string
	leaseTTL      time.Duration
	// Retention (settings.go): 0 keeps the records forever.
	retainSignResults time.Duration
	retainSessions    time.Duration
}

// serveFunc runs the coordinator with resolved, valid settings.
type serveFunc func(cmd *cobra.Command, cfg serveConfig) error

func newServeCmd(environ []string, run serveFunc) *cobra.Command {
	var cfg serveConfig
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the coordinator",
		Long: `Runs the coordinator's gRPC server (wallet, operator and device APIs) over TLS.

On first start it creates, in --data, a self-signed TLS certificate (tls.crt,
tls.key), an admin API token (admin.token) and a signer API token
(signer.token), and prints the certificate's SHA-256 fingerprint. Metadata
(devices, keys, signatures by request id) is kept in BadgerDB under --data,
or with --store postgres://... in PostgreSQL (the password from PGPASSWORD or
a password file, PGPASSFILE: never in the URL).

On PostgreSQL, any number of coordinators may share the database as
replicas (docs/ha.md): the one holding the leader lease serves, the others
stand by - health NOT_SERVING, every other call refused with the active
replica's address - and one takes over within --lease-ttl when the active one
dies. A replica that loses the lease exits with an error, for its supervisor
to restart it as a standby. Replicas share the TLS identity and the token
files: copy tls.crt, tls.key, admin.token and signer.token from the first
replica's data directory to the others' before starting them.
No secret is ever taken from a flag, the environment or the config file: the
TLS key and the API tokens are files in --data.

The standard gRPC health service (grpc.health.v1.Health) answers on --listen
without a token. With --metrics-listen, Prometheus metrics are served over
plain HTTP at /metrics on that address (docs/metrics.md lists them). With
--console-listen, the operator's web console is served over TLS on that
address; operators sign in with an admin token (docs/console.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.resolve(cmd.Flags(), environ); err != nil {
				return err
			}
			return run(cmd, cfg)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&cfg.configFile, "config", "", "config file (TOML subset, see above); flags and environment variables override it")
	fs.StringVar(&cfg.dataDir, "data", filepath.Join(home.Dir(), "coordinator"), "data directory (certificate, tokens, store)")
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:7400", "address to listen on")
	fs.DurationVar(&cfg.drainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM, how long running sessions may take to finish before they are aborted")
	fs.BoolVar(&cfg.autoApprove, "auto-approve", false, "activate enrolled devices without the operator comparing their short authentication string (unattended labs only)")
	fs.StringVar(&cfg.advertise, "advertise", "", "address devices dial, written into pairing codes (default: the listen address)")
	fs.StringVar(&cfg.metricsListen, "metrics-listen", "", "address to serve Prometheus metrics on at /metrics, over plain HTTP (default: no metrics)")
	fs.StringVar(&cfg.consoleListen, "console-listen", "", "address to serve the operator's web console on, over TLS with the coordinator's certificate (default: no console; docs/console.md)")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "text or json")
	fs.StringVar(&cfg.store, "store", "", "where the records are kept: empty for BadgerDB in --data, or a postgres:// URL without a password (PGPASSWORD or PGPASSFILE give it)")
	fs.DurationVar(&cfg.leaseTTL, "lease-ttl", postgres.DefaultLeaseTTL, "with --store postgres://: how long the leader lease lasts unless renewed; a standby takes over this long after the active replica dies (1s to 5m)")
	cfg.retentionFlags(fs)
	cmd.Long += "\n\nSettings\n\n" + settings.Help(fs)
	return cmd
}

// runServe runs the coordinator until ctx ends, then drains it.
func runServe(cmd *cobra.Command, cfg serveConfig) error {
	log, err := logging.New(cmd.ErrOrStderr(), cfg.logLevel, cfg.logFormat)
	if err != nil {
		return err
	}
	if cfg.store != "" {
		return runReplica(cmd, cfg, log)
	}
	opts, reg := serveOptions(cfg, log)
	return runActive(cmd, cfg, log, activeRun{opts: opts, reg: reg})
}

// activeRun is what runActive serves with: the coordinator's options and
// metrics registry, and for a replica the leader lease it holds and its API
// listener, open already.
type activeRun struct {
	opts  coordinator.Options
	reg   *prometheus.Registry
	lease *leaseKeeper
	api   net.Listener
}

// runActive runs the coordinator until the command's context ends, then
// drains it.
func runActive(cmd *cobra.Command, cfg serveConfig, log *slog.Logger, run activeRun) (retErr error) {
	opts, reg := run.opts, run.reg
	srv, err := coordinator.New(opts)
	if err != nil {
		if run.lease != nil {
			run.lease.release(log)
		}
		if opts.Store != nil {
			opts.Store.Close()
		}
		if run.api != nil {
			run.api.Close()
		}
		return err
	}
	defer func() {
		// A store that does not close cleanly may not have flushed its last
		// writes: say so, and fail the command.
		if err := srv.Close(); err != nil {
			log.Error("could not close the store", "err", err)
			if retErr == nil {
				retErr = fmt.Errorf("close the store: %w", err)
			}
		}
	}()
	ls, err := openListeners(cfg, run.api)
	if err != nil {
		if run.lease != nil {
			run.lease.release(log)
		}
		return err
	}
	out := cmd.OutOrStdout()
	printServing(out, cfg, srv, ls.api.Addr())
	if run.lease != nil {
		return serveLeased(cmd.Context(), out, srv, log, ls, reg, run.lease)
	}
	return serveAll(cmd.Context(), out, srv, log, ls, reg)
}

// serveOptions are the coordinator's options for cfg, and the metrics
// registry when --metrics-listen is given (else nil).
func serveOptions(cfg serveConfig, log *slog.Logger) (coordinator.Options, *prometheus.Registry) {
	opts := coordinator.Options{DataDir: cfg.dataDir, Advertise: cfg.advertise, AutoApprove: cfg.autoApprove, DrainTimeout: cfg.drainTimeout, Logger: log,
		RetainSignResults: forever(cfg.retainSignResults), RetainSessions: forever(cfg.retainSessions)}
	if crash := crashtest.Hook(); crash != nil {
		log.Warn("TEST ONLY: crash points are armed", "env", crashtest.Env)
		opts.CrashAt = func(p coordinator.CrashPoint) { crash(string(p)) }
	}
	var reg *prometheus.Registry
	if cfg.metricsListen != "" {
		reg = newMetricsRegistry()
		opts.Metrics = reg
	}
	return opts, reg
}

// serveListeners are the coordinator's listeners: the gRPC API's, and the
// metrics' and the console's when they are served (else nil).
type serveListeners struct {
	api, metrics, console net.Listener
}

// openListeners opens the listeners of cfg (the API's unless api is it);
// on an error it closes those it opened, and api.
func openListeners(cfg serveConfig, api net.Listener) (serveListeners, error) {
	ls := serveListeners{api: api}
	var err error
	if ls.api == nil {
		if ls.api, err = net.Listen("tcp", cfg.listen); err != nil {
			return serveListeners{}, err
		}
	}
	if cfg.metricsListen != "" {
		if ls.metrics, err = net.Listen("tcp", cfg.metricsListen); err != nil {
			ls.api.Close()
			return serveListeners{}, fmt.Errorf("--metrics-listen: %w", err)
		}
	}
	if cfg.consoleListen != "" {
		if ls.console, err = net.Listen("tcp", cfg.consoleListen); err != nil {
			ls.api.Close()
			if ls.metrics != nil {
				ls.metrics.Close()
			}
			return serveListeners{}, fmt.Errorf("--console-listen: %w", err)
		}
	}
	return ls, nil
}

// printServing says where the coordinator listens and where its files are.
func printServing(out io.Writer, cfg serveConfig, srv *coordinator.Server, addr net.Addr) {
	f := srv.Files()
	if srv.FirstStart() {
		fmt.Fprintln(out, "first start: created the TLS certificate and API tokens")
	}
	fmt.Fprintf(out, "coordinator listening on %s\n", addr)
	if cfg.configFile != "" {
		fmt.Fprintf(out, "  config file:             %s\n", cfg.configFile)
	}
	fmt.Fprintf(out, "  data directory:          %s\n", cfg.dataDir)
	fmt.Fprintf(out, "  TLS certificate:         %s\n", f.Cert)
	fmt.Fprintf(out, "  certificate fingerprint: %s\n", srv.Fingerprint())
	if next, at := srv.NextFingerprint(); next != "" {
		fmt.Fprintf(out, "  next fingerprint:        %s (takes over at %s; coordinator cert show)\n", next, at.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(out, "  admin token file:        %s\n", f.AdminToken)
	fmt.Fprintf(out, "  signer token file:       %s\n", f.SignerToken)
}

// serveAll serves the gRPC API, and the metrics and the web console when
// they have a listener, until ctx ends or one of them fails; it prints the
// metrics' and the console's address as it starts them.
func serveAll(ctx context.Context, out io.Writer, srv *coordinator.Server, log *slog.Logger, ls serveListeners, reg *prometheus.Registry) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(ctx, ls.api) })
	g.Go(func() error { reloadOnHangup(ctx, srv, log); return nil })
	if ls.metrics != nil {
		fmt.Fprintf(out, "  metrics:                 http://%s/metrics\n", ls.metrics.Addr())
		g.Go(func() error { return serveMetrics(ctx, ls.metrics, reg) })
	}
	if ls.console != nil {
		con, err := console.New(console.Options{Coordinator: srv, GetCertificate: srv.GetCertificate, Logger: log})
		if err != nil {
			ls.console.Close()
			return err
		}
		fmt.Fprintf(out, "  web console:             https://%s/ (sign in with an admin token)\n", ls.console.Addr())
		g.Go(func() error { return con.Serve(ctx, ls.console) })
	}
	return g.Wait()
}

// reloadOnHangup reads the certificate files again on SIGHUP (systemctl
// reload), so that 'coordinator cert rotate' is announced at once rather
// than at the next periodic check.
func reloadOnHangup(ctx context.Context, srv *coordinator.Server, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		if err := srv.ReloadCertificates(); err != nil {
			log.Warn("SIGHUP: could not read the certificate files", "err", err)
			continue
		}
		attrs := []any{"fingerprint", srv.Fingerprint()}
		if next, at := srv.NextFingerprint(); next != "" {
			attrs = append(attrs, "next_fingerprint", next, "switch_at", at.UTC().Format(time.RFC3339))
		}
		log.Info("SIGHUP: certificate files read again", attrs...)
	}
}
