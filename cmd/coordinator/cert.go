package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/home"
	"github.com/mpcsign/mpcsign/internal/tlspin"
)

// minGrace is the shortest grace period 'cert rotate' accepts: devices must
// have a chance to connect and learn the next fingerprint.
const minGrace = time.Minute

func newCertCmd(now func() time.Time) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Show or rotate the coordinator's TLS certificate",
		Long: `The coordinator's TLS certificate is self-signed; devices and mpcctl pin its
SHA-256 fingerprint. 'cert rotate' makes the next certificate and the time it
takes over; until then the coordinator serves the current one and tells every
connected device the next fingerprint, which devices pin too.`,
	}
	cmd.AddCommand(newCertShowCmd(now), newCertRotateCmd(now))
	return cmd
}

// certView is what 'cert show' and 'cert rotate' print.
type certView struct {
	DataDir         string    `json:"data_dir"`
	Fingerprint     string    `json:"fingerprint"`
	NextFingerprint string    `json:"next_fingerprint,omitempty"`
	SwitchAt        time.Time `json:"switch_at,omitzero"`
}

func viewOf(dir string, c tlspin.Certs) certView {
	v := certView{DataDir: dir, Fingerprint: c.CurrentFingerprint(), NextFingerprint: c.NextFingerprint()}
	if c.Next != nil {
		v.SwitchAt = c.SwitchAt.UTC()
	}
	return v
}

func (v certView) print(w io.Writer, asJSON bool, now time.Time) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	fmt.Fprintf(w, "current certificate fingerprint: %s\n", v.Fingerprint)
	if v.NextFingerprint == "" {
		fmt.Fprintln(w, "next certificate:                none (no rotation pending)")
		return nil
	}
	fmt.Fprintf(w, "next certificate fingerprint:    %s\n", v.NextFingerprint)
	fmt.Fprintf(w, "switch-over:                     %s (in %s)\n", v.SwitchAt.Format(time.RFC3339), v.SwitchAt.Sub(now).Round(time.Second))
	return nil
}

// certDir checks that dir holds a coordinator's certificate.
func certDir(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "tls.crt")); err != nil {
		return fmt.Errorf("no coordinator certificate in %s (start 'coordinator serve --data %s' once first): %w", dir, dir, err)
	}
	return nil
}

func newCertShowCmd(now func() time.Time) *cobra.Command {
	var dir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Print the current and the next certificate's fingerprints",
		Long: `Prints the fingerprint of the certificate the coordinator serves now and,
while a rotation is pending, the next one and its switch-over time. It reads
the files in --data and changes nothing, so it works whether the coordinator
runs or not. Give a device's operator the fingerprint from here when the
device must be re-pinned ('party repin').`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := certDir(dir); err != nil {
				return err
			}
			c, err := tlspin.Load(dir, now())
			if err != nil {
				return err
			}
			return viewOf(dir, c).print(cmd.OutOrStdout(), asJSON, now())
		},
	}
	cmd.Flags().StringVar(&dir, "data", filepath.Join(home.Dir(), "coordinator"), "the coordinator's data directory")
	cmd.Flags().BoolVar(&asJSON, "json", false, "machine-readable output")
	return cmd
}

func newCertRotateCmd(now func() time.Time) *cobra.Command {
	var dir string
	var grace time.Duration
	var replace, asJSON bool
	cmd := &cobra.Command{
		Use:   "rotate [--grace 168h]",
		Short: "Make the next TLS certificate, taking over after a grace period",
		Long: `Makes a new key and self-signed certificate in --data (tls.next.key,
tls.next.crt, tls.next.json) that takes over when the grace period ends.

The coordinator need not be stopped. A running coordinator reads the files
again every 10 seconds, at once on SIGHUP (systemctl reload), or at its next
start, then tells every connected device the next fingerprint; a device that connects later learns it when it
connects. Devices keep it in their keystore and accept both certificates
until they have connected to the new one, then drop the old pin. mpcctl on
this machine reads both fingerprints from client.json; elsewhere, pass both:
--fingerprint OLD,NEW.

At the switch-over time the coordinator serves the new certificate, without
a restart. A device that was offline for the whole grace period cannot
connect after it: it logs that the certificate changed, and its operator
must check the new fingerprint ('coordinator cert show') and run 'party
repin --fingerprint HEX' on it. Choose a grace period longer than any
device stays offline.

Run it as the user the coordinator runs as (run as root, it gives the new
files the owner of tls.key). While a rotation is pending, a second one is
refused unless --replace discards the pending next certificate.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if grace < minGrace {
				return fmt.Errorf("--grace %s is shorter than %s: devices need time to connect and learn the next certificate", grace, minGrace)
			}
			if err := certDir(dir); err != nil {
				return err
			}
			t := now()
			c, err := tlspin.Rotate(dir, t.Add(grace), t, replace)
			if errors.Is(err, tlspin.ErrRotationPending) {
				return fmt.Errorf("a rotation is already pending: next certificate %s takes over at %s; wait for it, or pass --replace to discard it",
					c.NextFingerprint(), c.SwitchAt.UTC().Format(time.RFC3339))
			}
			if err != nil {
				return err
			}
			v := viewOf(dir, c)
			if asJSON {
				return v.print(cmd.OutOrStdout(), true, t)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintln(w, "made the next TLS certificate")
			if err := v.print(w, false, t); err != nil {
				return err
			}
			fmt.Fprintln(w, "a running coordinator announces it to its devices within 10 seconds (at once after SIGHUP); devices that connect before the switch-over pin it")
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "data", filepath.Join(home.Dir(), "coordinator"), "the coordinator's data directory")
	cmd.Flags().DurationVar(&grace, "grace", 7*24*time.Hour, "how long devices have to learn the next certificate before it takes over")
	cmd.Flags().BoolVar(&replace, "replace", false, "discard a pending next certificate and make another")
	cmd.Flags().BoolVar(&asJSON, "json", false, "machine-readable output")
	return cmd
}
