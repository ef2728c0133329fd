package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/keystore"
	"github.com/mpcsign/mpcsign/party"
)

// statusOut is what 'party status' prints. The fields of the offline view
// (device, preparams_*, shares) keep their names.
type statusOut struct {
	// Live is true when the running agent answered; Note says what the
	// view is otherwise.
	Live            bool                 `json:"live"`
	Note            string               `json:"note,omitempty"`
	Device          party.Config         `json:"device"`
	Connected       bool                 `json:"connected"`
	ConnectedSince  time.Time            `json:"connected_since,omitzero"`
	LastError       string               `json:"last_error,omitempty"`
	LastErrorAt     time.Time            `json:"last_error_at,omitzero"`
	Draining        bool                 `json:"draining"`
	PreparamsReady  int                  `json:"preparams_ready"`
	PreparamsTarget int                  `json:"preparams_target"`
	Sessions        []party.SessionState `json:"sessions"`
	PendingShares   int                  `json:"pending_shares"`
	PendingRestores int                  `json:"pending_restores"`
	Shares          []shareOut           `json:"shares"`
	Roster          *party.RosterHead    `json:"roster,omitempty"`
}

type shareOut struct {
	KeyID     string `json:"key_id"`
	Curve     string `json:"curve,omitempty"`
	Epoch     uint64 `json:"epoch"`
	State     string `json:"state"`
	Threshold int    `json:"threshold"`
	PublicKey string `json:"public_key"`
}

func newStatusOut(st party.Status, live bool) statusOut {
	out := statusOut{
		Live: live, Device: st.Device, Connected: st.Connected, ConnectedSince: st.ConnectedSince,
		LastError: st.LastError, LastErrorAt: st.LastErrorAt, Draining: st.Draining,
		PreparamsReady: st.PreparamsReady, PreparamsTarget: st.PreparamsTarget, Sessions: st.Sessions,
		PendingShares: st.PendingShares, PendingRestores: st.PendingRestores, Shares: []shareOut{}, Roster: st.Roster,
	}
	if out.Sessions == nil {
		out.Sessions = []party.SessionState{}
	}
	for _, s := range st.Shares {
		out.Shares = append(out.Shares, shareOut{s.KeyID, s.Curve, s.Epoch, string(s.State), s.Threshold, hex.EncodeToString(s.PublicKey)})
	}
	return out
}

const offlineNote = "the agent is not running: this is what the keystore holds"

func newStatusCmd(environ []string) *cobra.Command {
	var f storeFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show this device's connection, the shares it holds, its pre-parameter pool and pending work",
		Long: `Shows this device's enrolment, the coordinator certificate it pins, the shares
it holds (with their epochs), its pre-parameter pool, and pending work.

While 'party run' runs, the agent answers on a local socket (party.sock in
--data, mode 0600; it serves no secret), so the view is live: connected or
not and since when, the last connection error, the sessions running, and
whether it is shutting down. No passphrase is needed then.

When the agent is not running, the command opens the keystore (which needs
the passphrase) and shows what it holds, with a note saying so.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := party.QueryStatus(cmd.Context(), f.dataDir)
			if err == nil {
				return printStatus(cmd.OutOrStdout(), newStatusOut(st, true), asJSON)
			}
			if !errors.Is(err, party.ErrAgentNotRunning) {
				return err
			}
			out, err := offlineStatus(cmd, &f)
			if err != nil {
				return err
			}
			return printStatus(cmd.OutOrStdout(), out, asJSON)
		},
	}
	f.register(cmd, environ)
	cmd.Flags().BoolVar(&asJSON, "json", false, "machine-readable output")
	return cmd
}

// offlineStatus reads the keystore of a device whose agent is not running.
func offlineStatus(cmd *cobra.Command, f *storeFlags) (statusOut, error) {
	ks, log, err := f.open(cmd)
	if errors.Is(err, keystore.ErrLocked) {
		return statusOut{}, fmt.Errorf("%w (an agent seems to run for %s, but its status socket did not answer; see its log)", err, f.dataDir)
	}
	if err != nil {
		return statusOut{}, err
	}
	defer ks.Close()
	a, err := party.New(party.Options{Store: ks, Logger: log})
	if err != nil {
		return statusOut{}, err
	}
	st, err := a.Status()
	if err != nil {
		return statusOut{}, err
	}
	out := newStatusOut(st, false)
	out.Note = offlineNote
	return out, nil
}

func printStatus(w io.Writer, out statusOut, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	d := out.Device
	fmt.Fprintf(w, "device %q (%s), coordinator %s\n", d.Name, d.DeviceID, d.Address)
	switch {
	case !out.Live:
		fmt.Fprintf(w, "agent: not running (%s)\n", offlineNote)
	case out.Draining:
		fmt.Fprintln(w, "agent: running, shutting down (refusing new sessions)")
	case out.Connected:
		fmt.Fprintf(w, "agent: running, connected since %s (%s)\n", out.ConnectedSince.Format(time.RFC3339), time.Since(out.ConnectedSince).Round(time.Second))
	default:
		fmt.Fprintln(w, "agent: running, not connected")
	}
	if out.LastError != "" {
		fmt.Fprintf(w, "last connection error (%s): %s\n", out.LastErrorAt.Format(time.RFC3339), out.LastError)
	}
	fmt.Fprintf(w, "coordinator certificate pin: %s\n", d.Fingerprint)
	if d.NextFingerprint != "" {
		fmt.Fprintf(w, "next certificate pin:        %s (takes over at %s)\n", d.NextFingerprint, d.NextSwitchAt.Format(time.RFC3339))
	}
	switch {
	case out.Roster != nil && out.Roster.Verified:
		fmt.Fprintf(w, "roster: genesis %s, verified up to entry %d (%s)\n", out.Roster.Genesis, out.Roster.Height, out.Roster.Head)
	case out.Roster != nil:
		fmt.Fprintf(w, "roster: genesis %s pinned, no entry received yet\n", out.Roster.Genesis)
	case d.RosterGenesis != "":
		fmt.Fprintf(w, "roster: genesis %s pinned\n", d.RosterGenesis)
	default:
		fmt.Fprintln(w, "roster: none pinned (the device trusts the coordinator for membership; see 'party pin-roster')")
	}
	fmt.Fprintf(w, "pre-parameters ready: %d/%d\n", out.PreparamsReady, out.PreparamsTarget)
	if out.Live {
		fmt.Fprintf(w, "sessions running: %d\n", len(out.Sessions))
		for _, s := range out.Sessions {
			fmt.Fprintf(w, "  %s %s (ref %s), for %s\n", s.Kind, s.KeyID, s.Ref, time.Since(s.Started).Round(time.Second))
		}
	}
	fmt.Fprintf(w, "pending shares (reshare not committed yet): %d\n", out.PendingShares)
	fmt.Fprintf(w, "restored shares waiting for the operator: %d\n", out.PendingRestores)
	for _, s := range out.Shares {
		fmt.Fprintf(w, "share of %s epoch %d (%s), threshold %d, public key %s\n", s.KeyID, s.Epoch, s.State, s.Threshold, s.PublicKey)
	}
	return nil
}

func newRepinCmd(environ []string) *cobra.Command {
	var f storeFlags
	var fingerprint string
	cmd := &cobra.Command{
		Use:   "repin --fingerprint HEX",
		Short: "Pin a new coordinator certificate (after a rotation this device missed)",
		Long: `Replaces the coordinator certificate fingerprint this device pins.

Devices learn a new certificate by themselves during a rotation's grace
period ('coordinator cert rotate'). A device that was offline for the whole
grace period cannot connect afterwards: 'party run' logs the fingerprint the
coordinator presents. Check it against 'coordinator cert show' on the
coordinator (out of band: the device cannot tell an impostor from a rotated
certificate), then run this with the agent stopped. Pairing the device again
(a new data directory) works too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ks, _, err := f.open(cmd)
			if errors.Is(err, keystore.ErrLocked) {
				return fmt.Errorf("%w: stop 'party run' first", err)
			}
			if err != nil {
				return err
			}
			defer ks.Close()
			old, now, err := party.Repin(ks, fingerprint)
			if err != nil {
				return err
			}
			if err := ks.Close(); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "device %q now pins coordinator certificate %s\n", now.Name, now.Fingerprint)
			fmt.Fprintf(w, "it pinned %s", old.Fingerprint)
			if old.NextFingerprint != "" {
				fmt.Fprintf(w, " and %s", old.NextFingerprint)
			}
			fmt.Fprintln(w)
			return nil
		},
	}
	f.register(cmd, environ)
	cmd.Flags().StringVar(&fingerprint, "fingerprint", "", "the coordinator certificate's SHA-256 fingerprint, as 'coordinator cert show' prints it (required)")
	_ = cmd.MarkFlagRequired("fingerprint")
	return cmd
}

func newPinRosterCmd(environ []string) *cobra.Command {
	var f storeFlags
	var genesis string
	cmd := &cobra.Command{
		Use:   "pin-roster --genesis HASH",
		Short: "Pin the operators' roster (a device enrolled before its institution had one)",
		Long: `Makes this device believe only roster entries that chain back to the
genesis HASH and are signed by the operators it names. Devices paired with a
code made after the roster existed pin it already. Read HASH from an
operator ('mpcctl roster show' on the operator's machine), not from the
coordinator. Run with the agent stopped; once pinned, a device never changes
roster.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ks, _, err := f.open(cmd)
			if errors.Is(err, keystore.ErrLocked) {
				return fmt.Errorf("%w: stop 'party run' first", err)
			}
			if err != nil {
				return err
			}
			defer ks.Close()
			c, err := party.PinRoster(ks, genesis)
			if err != nil {
				return err
			}
			if err := ks.Close(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "device %q (id %s) pins roster genesis %s\n", c.Name, c.DeviceID, c.RosterGenesis)
			fmt.Fprintf(cmd.OutOrStdout(), "an operator must sign it onto the roster: mpcctl roster add-device %s --device-id %s\n", c.Name, c.DeviceID)
			return nil
		},
	}
	f.register(cmd, environ)
	cmd.Flags().StringVar(&genesis, "genesis", "", "the roster's genesis hash, as an operator's 'mpcctl roster show' prints it (required)")
	_ = cmd.MarkFlagRequired("genesis")
	return cmd
}
