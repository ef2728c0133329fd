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

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/coordinator"
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

func defaultHome() string {
	if h := os.Getenv("MPC_HOME"); h != "" {
		return h
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".mpcsign")
	}
	return ".mpcsign"
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "coordinator",
		Short:         "MPC signing coordinator: routes keygen and signing between device parties",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var dataDir, listen, advertise, logLevel, logFormat string
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Run the coordinator",
		Long: `Runs the coordinator's gRPC server (wallet, operator and device APIs) over TLS.

On first start it creates, in --data, a self-signed TLS certificate (tls.crt,
tls.key), an admin API token (admin.token) and a signer API token
(signer.token), and prints the certificate's SHA-256 fingerprint. Metadata
(devices, keys, signatures by request id) is kept in BadgerDB under --data.`,
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
			srv, err := coordinator.New(coordinator.Options{DataDir: dataDir, Advertise: advertise, Logger: log})
			if err != nil {
				return err
			}
			defer srv.Close()
			lis, err := net.Listen("tcp", listen)
			if err != nil {
				return err
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
			return srv.Serve(cmd.Context(), lis)
		},
	}
	serve.Flags().StringVar(&dataDir, "data", filepath.Join(defaultHome(), "coordinator"), "data directory (certificate, tokens, store)")
	serve.Flags().StringVar(&listen, "listen", "127.0.0.1:7400", "address to listen on")
	serve.Flags().StringVar(&advertise, "advertise", "", "address devices dial, written into pairing codes (default: the listen address)")
	serve.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	serve.Flags().StringVar(&logFormat, "log-format", "text", "text or json")
	root.AddCommand(serve)
	return root
}
