// Command coordinator runs the MPC signing coordinator.
package main

import (
	"context"
	"fmt"
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
	"github.com/mpcsign/mpcsign/internal/buildinfo"
	"github.com/mpcsign/mpcsign/internal/home"
	"github.com/mpcsign/mpcsign/internal/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "coordinator:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "coordinator",
		Short:         "MPC signing coordinator: routes keygen and signing between device parties",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var dataDir, listen, advertise, metricsListen, logLevel, logFormat string
	var autoApprove bool
	var drainTimeout time.Duration
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Run the coordinator",
		Long: `Runs the coordinator's gRPC server (wallet, operator and device APIs) over TLS.

On first start it creates, in --data, a self-signed TLS certificate (tls.crt,
tls.key), an admin API token (admin.token) and a signer API token
(signer.token), and prints the certificate's SHA-256 fingerprint. Metadata
(devices, keys, signatures by request id) is kept in BadgerDB under --data.

The standard gRPC health service (grpc.health.v1.Health) answers on --listen
without a token. With --metrics-listen, Prometheus metrics are served over
plain HTTP at /metrics on that address (docs/metrics.md lists them).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logging.New(cmd.ErrOrStderr(), logLevel, logFormat)
			if err != nil {
				return err
			}
			if host, _, err := net.SplitHostPort(listen); err != nil {
				return fmt.Errorf("--listen %q: %v", listen, err)
			} else if ip := net.ParseIP(host); (host == "" || ip != nil && ip.IsUnspecified()) && advertise == "" {
				return fmt.Errorf("--listen %s accepts connections on every address, so pairing codes need the address devices should dial: pass --advertise host:port", listen)
			}
			opts := coordinator.Options{DataDir: dataDir, Advertise: advertise, AutoApprove: autoApprove, DrainTimeout: drainTimeout, Logger: log}
			var reg *prometheus.Registry
			if metricsListen != "" {
				reg = newMetricsRegistry()
				opts.Metrics = reg
			}
			srv, err := coordinator.New(opts)
			if err != nil {
				return err
			}
			defer srv.Close()
			lis, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			var mlis net.Listener
			if metricsListen != "" {
				if mlis, err = net.Listen("tcp", metricsListen); err != nil {
					lis.Close()
					return fmt.Errorf("--metrics-listen: %w", err)
				}
			}
			f := srv.Files()
			out := cmd.OutOrStdout()
			if srv.FirstStart() {
				fmt.Fprintln(out, "first start: created the TLS certificate and API tokens")
			}
			fmt.Fprintf(out, "coordinator listening on %s\n", lis.Addr())
			fmt.Fprintf(out, "  data directory:          %s\n", dataDir)
			fmt.Fprintf(out, "  TLS certificate:         %s\n", f.Cert)
			fmt.Fprintf(out, "  certificate fingerprint: %s\n", srv.Fingerprint())
			fmt.Fprintf(out, "  admin token file:        %s\n", f.AdminToken)
			fmt.Fprintf(out, "  signer token file:       %s\n", f.SignerToken)
			g, ctx := errgroup.WithContext(cmd.Context())
			g.Go(func() error { return srv.Serve(ctx, lis) })
			if mlis != nil {
				fmt.Fprintf(out, "  metrics:                 http://%s/metrics\n", mlis.Addr())
				g.Go(func() error { return serveMetrics(ctx, mlis, reg) })
			}
			return g.Wait()
		},
	}
	serve.Flags().StringVar(&dataDir, "data", filepath.Join(home.Dir(), "coordinator"), "data directory (certificate, tokens, store)")
	serve.Flags().StringVar(&listen, "listen", "127.0.0.1:7400", "address to listen on")
	serve.Flags().DurationVar(&drainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM, how long running sessions may take to finish before they are aborted")
	serve.Flags().BoolVar(&autoApprove, "auto-approve", false, "activate enrolled devices without the operator comparing their short authentication string (unattended labs only)")
	serve.Flags().StringVar(&advertise, "advertise", "", "address devices dial, written into pairing codes (default: the listen address)")
	serve.Flags().StringVar(&metricsListen, "metrics-listen", "", "address to serve Prometheus metrics on at /metrics, over plain HTTP (default: no metrics)")
	serve.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	serve.Flags().StringVar(&logFormat, "log-format", "text", "text or json")
	root.AddCommand(serve, buildinfo.Command("coordinator"))
	return root
}
