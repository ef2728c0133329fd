package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// rosterPinName is the operator's pin of the roster, next to its key file.
const rosterPinName = "roster.json"

// rosterPin is what this operator has verified of the roster, like a
// device's pin: the genesis hash it believes in, and the newest height and
// head hash it has seen. A roster that does not start at the genesis, or
// that is shorter than height or has another entry there, is refused.
type rosterPin struct {
	genesis roster.Hash
	height  uint64
	head    roster.Hash
}

// pinFile is rosterPin on disk.
type pinFile struct {
	Genesis string `json:"genesis"`
	Height  uint64 `json:"height"`
	Head    string `json:"head"`
}

// errNoPin: the operator has no roster.json.
var errNoPin = errors.New("this operator has not pinned a roster")

// errNoRoster: the coordinator has no roster (and the operator pinned none).
var errNoRoster = errors.New("the coordinator has no roster: run 'mpcctl roster init' to create one")

// dangerAdvice ends every error about a roster the coordinator should not
// be serving.
const dangerAdvice = "Do not sign anything through this coordinator; investigate (a compromised coordinator, or one restored from an old backup) and compare 'mpcctl roster show' with the other operators"

func pinPath(dir string) string { return filepath.Join(dir, rosterPinName) }

// loadPin reads the operator's pin; errNoPin (wrapped, with what to do)
// when there is none.
func loadPin(dir string) (rosterPin, error) {
	path := pinPath(dir)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return rosterPin{}, fmt.Errorf("%w (no %s): run 'mpcctl roster pin --genesis HASH' with the genesis hash from the operator who created the roster (compare it with them over another channel, not through the coordinator), or 'mpcctl roster init' to create the roster", errNoPin, path)
	}
	if err != nil {
		return rosterPin{}, fmt.Errorf("read the roster pin: %w", err)
	}
	var f pinFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return rosterPin{}, fmt.Errorf("%s is damaged (%v): restore it from a backup, or pin again with 'mpcctl roster pin --genesis HASH --force'", path, err)
	}
	var p rosterPin
	p.height = f.Height
	if p.genesis, err = roster.ParseHash(f.Genesis); err != nil {
		return rosterPin{}, fmt.Errorf("%s: genesis: %v: restore it from a backup, or pin again with 'mpcctl roster pin --genesis HASH --force'", path, err)
	}
	if p.head, err = roster.ParseHash(f.Head); err != nil {
		return rosterPin{}, fmt.Errorf("%s: head: %v: restore it from a backup, or pin again with 'mpcctl roster pin --genesis HASH --force'", path, err)
	}
	if p.height == 0 && p.head != p.genesis {
		return rosterPin{}, fmt.Errorf("%s: at height 0 the head must be the genesis: restore it from a backup, or pin again with 'mpcctl roster pin --genesis HASH --force'", path)
	}
	return p, nil
}

// savePin writes the pin atomically (a temporary file renamed over it),
// mode 0600.
func savePin(dir string, p rosterPin) (err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create --operator-dir: %w", err)
	}
	raw, err := json.MarshalIndent(pinFile{Genesis: p.genesis.String(), Height: p.height, Head: p.head.String()}, "", "  ")
	if err != nil {
		return err
	}
	raw = append(raw, '\n')
	f, err := os.CreateTemp(dir, "."+rosterPinName+".tmp-*")
	if err != nil {
		return fmt.Errorf("write the roster pin: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write the roster pin: %w", err)
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return fmt.Errorf("write the roster pin: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write the roster pin: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write the roster pin: %w", err)
	}
	if err := os.Rename(tmp, pinPath(dir)); err != nil {
		return fmt.Errorf("write the roster pin: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: not every platform syncs directories
		d.Close()
	}
	return nil
}

// verified is the coordinator's roster as this operator verified it.
type verified struct {
	state   *roster.State
	entries []roster.Entry
	pending []roster.Entry
}

// verifiedRoster fetches the whole roster, verifies it from the pinned
// genesis, checks it extends what this operator verified before (no fork,
// no rollback) and records the new head in the pin. It returns the state
// and the entries waiting for signatures (not verified: check each with
// state.Signers).
func verifiedRoster(ctx context.Context, c mpcv1.AdminServiceClient, dir string) (*roster.State, []roster.Entry, error) {
	v, err := fetchVerified(ctx, c, dir)
	if err != nil {
		return nil, nil, err
	}
	return v.state, v.pending, nil
}

func fetchVerified(ctx context.Context, c mpcv1.AdminServiceClient, dir string) (*verified, error) {
	resp, err := c.GetRoster(ctx, &mpcv1.GetRosterRequest{FromHeight: 0})
	if err != nil {
		return nil, err
	}
	return verifyResponse(dir, resp)
}

// verifyResponse is verifiedRoster on a fetched GetRoster(0) response.
func verifyResponse(dir string, resp *mpcv1.GetRosterResponse) (*verified, error) {
	pin, pinErr := loadPin(dir)
	if !resp.GetExists() {
		switch {
		case pinErr == nil && pin.height == 0:
			for _, p := range resp.GetPending() {
				if roster.EntryFromProto(p).Hash() == pin.genesis {
					return nil, fmt.Errorf("the roster has not started: its genesis %s waits for more operator signatures (the other operators run: mpcctl roster sign %s)", pin.genesis, entryID(pin.genesis))
				}
			}
			return nil, fmt.Errorf("%w: the coordinator says it has no roster, but this operator pinned genesis %s. If that genesis was never appended, its creator submits it again (mpcctl roster init); if it was, the coordinator lost or hides the roster: %s",
				roster.ErrRollback, pin.genesis, dangerAdvice)
		case pinErr == nil:
			return nil, fmt.Errorf("DANGER: %w: the coordinator says it has no roster, but this operator verified roster %s up to height %d. %s",
				roster.ErrRollback, pin.genesis, pin.height, dangerAdvice)
		case errors.Is(pinErr, errNoPin):
			return nil, errNoRoster
		default:
			return nil, pinErr
		}
	}
	if pinErr != nil {
		return nil, pinErr
	}
	entries := entriesFromProto(resp.GetEntries())
	if len(entries) == 0 || uint64(len(entries)) != resp.GetHeight()+1 {
		return nil, fmt.Errorf("DANGER: the coordinator says its roster ends at height %d but sent %d entries. %s", resp.GetHeight(), len(entries), dangerAdvice)
	}
	st, err := roster.Verify(pin.genesis, entries)
	switch {
	case errors.Is(err, roster.ErrGenesisMismatch):
		return nil, fmt.Errorf("DANGER: the coordinator serves another roster than the one this operator pinned (%w). %s; if your pin is the wrong one, pin the right genesis with 'mpcctl roster pin --genesis HASH --force'", err, dangerAdvice)
	case err != nil:
		return nil, fmt.Errorf("DANGER: the roster the coordinator serves does not verify (%w). %s", err, dangerAdvice)
	}
	if err := st.CheckHead(pin.height, pin.head); err != nil {
		what := "forks from"
		if errors.Is(err, roster.ErrRollback) {
			what = "rolls back"
		}
		return nil, fmt.Errorf("DANGER: the coordinator serves a roster that %s what this operator verified (%w). %s", what, err, dangerAdvice)
	}
	if st.Height() != pin.height || st.Head() != pin.head {
		pin.height, pin.head = st.Height(), st.Head()
		if err := savePin(dir, pin); err != nil {
			return nil, fmt.Errorf("record the verified roster head: %w", err)
		}
	}
	return &verified{state: st, entries: entries, pending: entriesFromProto(resp.GetPending())}, nil
}

// advancePin records an entry this operator signed and the coordinator
// reports appended, so that a coordinator that later drops it is caught.
func advancePin(dir string, st *roster.State, e roster.Entry, b roster.Body, resp *mpcv1.SubmitRosterEntryResponse) error {
	if !resp.GetAppended() || b.Height != st.Height()+1 {
		return nil
	}
	pin, err := loadPin(dir)
	if err != nil || pin.genesis != st.GenesisHash() || pin.height >= b.Height {
		return nil
	}
	pin.height, pin.head = b.Height, e.Hash()
	if err := savePin(dir, pin); err != nil {
		return fmt.Errorf("the entry was appended, but recording the new roster head failed: %w", err)
	}
	return nil
}

func entriesFromProto(ps []*mpcv1.RosterEntry) []roster.Entry {
	out := make([]roster.Entry, 0, len(ps))
	for _, p := range ps {
		out = append(out, roster.EntryFromProto(p))
	}
	return out
}

// entryID is how commands name an entry: the first 12 hex digits of its hash.
func entryID(h roster.Hash) string { return h.String()[:12] }

// newRosterCmd is 'mpcctl roster'. Its subcommands: init and pin in
// roster_init.go, show, verify and pending in roster_show.go, sign and
// add-device in roster_sign.go, operators in roster_operators.go.
func newRosterCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "roster",
		Short: "Create, verify and sign the operator-signed roster of devices",
		Long: `The roster is a hash-chained log of which devices hold shares, signed by the
operators' keys ('mpcctl operator init'), which never reach the coordinator.
Devices pin its genesis hash at pairing and believe only entries that chain
back to it with enough operator signatures: a coordinator cannot add or
remove a device on its own.

Each operator pins the roster too (--operator-dir/` + rosterPinName + `): every command
that reads the roster verifies it from that genesis and refuses one that
forks from or rolls back what this operator verified before.`,
	}
	cmd.AddCommand(newRosterInitCmd(g), newRosterPinCmd(g), newRosterShowCmd(g), newRosterVerifyCmd(g), newRosterPendingCmd(g),
		newRosterSignCmd(g), newRosterAddDeviceCmd(g), newRosterOperatorsCmd(g))
	return cmd
}
