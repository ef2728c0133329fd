package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/keyfile"
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

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// describe says what an entry does, naming devices from st (any state that
// knows them: devices are never forgotten).
func describe(b roster.Body, st *roster.State) string {
	var s string
	switch b.Kind {
	case roster.KindGenesis, roster.KindSetOperators:
		var names []string
		for _, op := range b.Operators {
			names = append(names, op.Name)
		}
		s = fmt.Sprintf("operators %s; quorum %d", strings.Join(names, ", "), b.Quorum)
		if b.DeviceApproval {
			s += "; active devices may approve new ones"
		}
	case roster.KindAddDevice:
		if b.Device != nil {
			s = fmt.Sprintf("device %s (%s)", b.Device.Name, shortID(b.Device.ID))
		}
	case roster.KindRevokeDevice:
		name := "?"
		if st != nil {
			if d, ok := st.Device(b.DeviceID); ok {
				name = d.Name
			}
		}
		s = fmt.Sprintf("device %s (%s)", name, shortID(b.DeviceID))
	case roster.KindAddRequester:
		if b.Requester != nil {
			s = describeRequester(*b.Requester)
		}
	case roster.KindRevokeRequester:
		name := "?"
		if st != nil {
			if r, ok := st.Requester(b.RequesterID); ok {
				name = r.Name
			}
		}
		s = fmt.Sprintf("requester %s (%s)", name, shortID(b.RequesterID))
	default:
		s = string(b.Kind)
	}
	if b.Reason != "" {
		s += fmt.Sprintf("; reason: %q", b.Reason)
	}
	return s
}

func bodyJSON(b roster.Body, st *roster.State) map[string]any {
	m := map[string]any{"height": b.Height, "time": time.Unix(b.Time, 0).UTC(), "kind": string(b.Kind), "what": describe(b, st)}
	if len(b.Operators) > 0 {
		var ops []map[string]any
		for _, op := range b.Operators {
			ops = append(ops, map[string]any{"name": op.Name, "public_key": hex.EncodeToString(op.Key), "fingerprint": keyfile.Fingerprint(op.Key)})
		}
		m["operators"], m["quorum"] = ops, b.Quorum
	}
	if b.Kind == roster.KindGenesis {
		m["device_approval"] = b.DeviceApproval
	}
	if d := b.Device; d != nil {
		m["device"] = map[string]any{"id": d.ID, "name": d.Name, "identity_public_key": hex.EncodeToString(d.IdentityKey), "encryption_public_key": hex.EncodeToString(d.EncryptionKey)}
	}
	if b.DeviceID != "" {
		m["device_id"] = b.DeviceID
		if st != nil {
			if d, ok := st.Device(b.DeviceID); ok {
				m["device_name"] = d.Name
			}
		}
	}
	if r := b.Requester; r != nil {
		m["requester"] = requesterJSON(*r)
	}
	if b.RequesterID != "" {
		m["requester_id"] = b.RequesterID
		if st != nil {
			if r, ok := st.Requester(b.RequesterID); ok {
				m["requester_name"] = r.Name
			}
		}
	}
	if b.Reason != "" {
		m["reason"] = b.Reason
	}
	return m
}

// entrySigners is, for each entry of a verified chain, who signed it.
func entrySigners(entries []roster.Entry) ([][]string, error) {
	out := make([][]string, len(entries))
	names, _, err := roster.GenesisSigners(entries[0])
	if err != nil {
		return nil, err
	}
	out[0] = names
	st, err := roster.Open(entries[0])
	if err != nil {
		return nil, err
	}
	for i, e := range entries[1:] {
		if out[i+1], _, err = st.Signers(e); err != nil {
			return nil, err
		}
		if err := st.Apply(e); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pendingInfo is a pending entry checked against the verified roster.
type pendingInfo struct {
	entry    roster.Entry
	body     roster.Body
	id       string
	signedBy []string
	need     int
	err      error // it does not extend the verified roster
}

func checkPending(st *roster.State, pending []roster.Entry) []pendingInfo {
	var out []pendingInfo
	for _, e := range pending {
		p := pendingInfo{entry: e, id: entryID(e.Hash())}
		p.body, p.err = roster.DecodeBody(e.Body)
		if p.err == nil {
			p.signedBy, p.need, p.err = st.Signers(e)
		}
		out = append(out, p)
	}
	return out
}

// operatorCount is how many of names are operators (not "device:...").
func operatorCount(names []string) int {
	n := 0
	for _, s := range names {
		if !strings.HasPrefix(s, "device:") {
			n++
		}
	}
	return n
}

func signedByText(names []string) string {
	if len(names) == 0 {
		return "-"
	}
	return strings.Join(names, ", ")
}

// isOperator reports whether pub is one of ops.
func isOperator(ops []roster.Operator, pub []byte) bool {
	for _, op := range ops {
		if bytes.Equal(op.Key, pub) {
			return true
		}
	}
	return false
}

// signEntry encodes b, signs it with k and checks that it extends st (all
// but the quorum): an entry the roster would refuse is never sent.
func signEntry(st *roster.State, b roster.Body, k *keyfile.Key) (roster.Entry, error) {
	if !isOperator(st.Operators(), k.PublicKey()) {
		return roster.Entry{}, fmt.Errorf("this operator's key (%s, fingerprint %s) is not one of the roster's operators: only they can sign its entries", k.Name(), keyfile.Fingerprint(k.PublicKey()))
	}
	raw, err := roster.EncodeBody(b)
	if err != nil {
		return roster.Entry{}, err
	}
	e := roster.Entry{Body: raw}
	e.Sign(k)
	if _, _, err := st.Signers(e); err != nil {
		return roster.Entry{}, fmt.Errorf("the roster would refuse this entry: %w", err)
	}
	return e, nil
}

// submitEntry submits a signed entry and, once the coordinator took it,
// advances the operator's pin (in dir) past it.
func submitEntry(ctx context.Context, c mpcv1.AdminServiceClient, dir string, st *roster.State, e roster.Entry, b roster.Body) (*mpcv1.SubmitRosterEntryResponse, error) {
	sub, err := c.SubmitRosterEntry(ctx, &mpcv1.SubmitRosterEntryRequest{Entry: roster.EntryProto(e)})
	if err != nil {
		return nil, err
	}
	if err := advancePin(dir, st, e, b, sub); err != nil {
		return nil, err
	}
	return sub, nil
}

// signSubmit signs b with the operator's key k, submits it and advances
// the pin: the whole of an operator's roster change.
func signSubmit(ctx context.Context, c mpcv1.AdminServiceClient, dir string, st *roster.State, b roster.Body, k *keyfile.Key) (roster.Entry, *mpcv1.SubmitRosterEntryResponse, error) {
	e, err := signEntry(st, b, k)
	if err != nil {
		return roster.Entry{}, nil, err
	}
	sub, err := submitEntry(ctx, c, dir, st, e, b)
	return e, sub, err
}

// printOutcome says where a submitted entry stands.
func printOutcome(w io.Writer, e roster.Entry, resp *mpcv1.SubmitRosterEntryResponse) {
	if resp.GetAppended() {
		fmt.Fprintf(w, "appended to the roster (height %d)\n", resp.GetHeight())
		return
	}
	have := operatorCount(resp.GetSignedBy())
	fmt.Fprintf(w, "entry %s waits for more operator signatures: signed by %s; the quorum is %d (%d more needed)\n",
		entryID(e.Hash()), signedByText(resp.GetSignedBy()), resp.GetQuorum(), max(int(resp.GetQuorum())-have, 1))
	fmt.Fprintf(w, "the other operators run: mpcctl roster sign %s\n", entryID(e.Hash()))
}

func outcomeJSON(e roster.Entry, resp *mpcv1.SubmitRosterEntryResponse) map[string]any {
	return map[string]any{
		"id": entryID(e.Hash()), "hash": e.Hash().String(), "appended": resp.GetAppended(), "height": resp.GetHeight(),
		"signed_by": append([]string{}, resp.GetSignedBy()...), "quorum": resp.GetQuorum(),
	}
}

// parseOperator parses --operator NAME=PUBLIC_KEY_HEX.
func parseOperator(s string) (roster.Operator, error) {
	name, keyHex, ok := strings.Cut(s, "=")
	key, err := hex.DecodeString(strings.TrimSpace(keyHex))
	if !ok || name == "" || err != nil || len(key) != 32 {
		return roster.Operator{}, fmt.Errorf("--operator %q: want NAME=PUBLIC_KEY (the 64 hex digits 'mpcctl operator show' prints on that operator's machine)", s)
	}
	return roster.Operator{Name: name, Key: key}, nil
}

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

	// init
	var initOps operatorFlags
	var extraOps []string
	var quorum int
	var deviceApproval bool
	initCmd := &cobra.Command{
		Use:   "init [--operator NAME=PUBLIC_KEY ...] [--quorum N]",
		Short: "Create the roster: sign its genesis with this operator's key and submit it",
		Long: `Builds the roster's genesis entry: this operator (the name and key of its key
file) plus every --operator, and the quorum (how many of them must sign each
later entry). Signs it, submits it to the coordinator and pins it here.

Devices paired from then on pin its hash (it is in every pairing code). The
other operators pin it with 'mpcctl roster pin --genesis HASH', taking the
hash from you over another channel. With a quorum above 1 the genesis waits
until enough operators signed it with 'mpcctl roster sign'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRosterInit(cmd, g, &initOps, extraOps, quorum, deviceApproval)
		},
	}
	initCmd.Flags().StringArrayVar(&extraOps, "operator", nil, "another operator, as NAME=PUBLIC_KEY (hex, from 'mpcctl operator show' on their machine); repeat for each")
	initCmd.Flags().IntVar(&quorum, "quorum", 1, "how many operators must sign each roster entry")
	initCmd.Flags().BoolVar(&deviceApproval, "device-approval", false, "let an active device approve a new device in place of the operators (fixed for the roster's life)")
	initOps.register(initCmd.Flags())

	// pin
	var pinOps operatorFlags
	var genesis string
	var force bool
	pinCmd := &cobra.Command{
		Use:   "pin --genesis HASH",
		Short: "Pin the roster's genesis hash (from the operator who created it) for this operator",
		Long: `Records the roster's genesis hash in --operator-dir/` + rosterPinName + `. Take the hash from
the operator who ran 'mpcctl roster init', over another channel than the
coordinator. From then on every roster command verifies the coordinator's
roster from it. Pinning the same genesis again keeps what was verified;
another genesis needs --force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, err := roster.ParseHash(strings.TrimSpace(genesis))
			if err != nil {
				return fmt.Errorf("--genesis: %v (the 64 hex digits 'mpcctl roster init' printed)", err)
			}
			w := cmd.OutOrStdout()
			old, err := loadPin(pinOps.dir)
			switch {
			case err == nil && old.genesis == h:
				if g.asJSON {
					return printJSON(w, map[string]any{"genesis": h.String(), "height": old.height, "head": old.head.String(), "changed": false})
				}
				fmt.Fprintf(w, "roster %s is pinned already (verified up to height %d)\n", h, old.height)
				return nil
			case err == nil && !force:
				return fmt.Errorf("this operator pinned another roster (%s) in %s: pass --force to replace it, if that one is wrong", old.genesis, pinPath(pinOps.dir))
			case err != nil && !errors.Is(err, errNoPin) && !force:
				return err
			}
			if err := savePin(pinOps.dir, rosterPin{genesis: h, height: 0, head: h}); err != nil {
				return err
			}
			if g.asJSON {
				return printJSON(w, map[string]any{"genesis": h.String(), "height": 0, "head": h.String(), "changed": true})
			}
			fmt.Fprintf(w, "pinned roster genesis %s in %s\nnext: mpcctl roster verify (checks the coordinator's roster against it)\n", h, pinPath(pinOps.dir))
			return nil
		},
	}
	pinCmd.Flags().StringVar(&genesis, "genesis", "", "the roster's genesis hash (64 hex digits) (required)")
	pinCmd.Flags().BoolVar(&force, "force", false, "replace a pin of another roster")
	_ = pinCmd.MarkFlagRequired("genesis")
	pinOps.registerDir(pinCmd.Flags())

	// show
	var showOps operatorFlags
	showCmd := &cobra.Command{
		Use:   "show",
		Short: "Verify the roster and show its entries and the ones waiting for signatures",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, done, ctx, err := g.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			v, err := fetchVerified(ctx, c, showOps.dir)
			if err != nil {
				return err
			}
			return printRoster(cmd.OutOrStdout(), g.asJSON, v)
		},
	}
	showOps.registerDir(showCmd.Flags())

	// verify
	var verifyOps operatorFlags
	verifyCmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify the coordinator's roster against this operator's pin (exits non-zero on any failure)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, done, ctx, err := g.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			st, _, err := verifiedRoster(ctx, c, verifyOps.dir)
			if err != nil {
				return err
			}
			n := st.Height() + 1
			if g.asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"verified": true, "entries": n, "genesis": st.GenesisHash().String(), "head": st.Head().String(), "height": st.Height()})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "roster verified: %d entries from genesis %s, head %s at height %d\n", n, st.GenesisHash(), st.Head(), st.Height())
			return nil
		},
	}
	verifyOps.registerDir(verifyCmd.Flags())

	// pending
	var pendingOps operatorFlags
	pendingCmd := &cobra.Command{
		Use:   "pending",
		Short: "List the roster entries waiting for more operator signatures",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, done, ctx, err := g.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			st, pending, err := verifiedRoster(ctx, c, pendingOps.dir)
			if err != nil {
				return err
			}
			infos := checkPending(st, pending)
			w := cmd.OutOrStdout()
			if g.asJSON {
				return printJSON(w, pendingJSON(st, infos))
			}
			if len(infos) == 0 {
				fmt.Fprintln(w, "no roster entries wait for signatures")
				return nil
			}
			return printPending(w, st, infos)
		},
	}
	pendingOps.registerDir(pendingCmd.Flags())

	// sign
	var signOps operatorFlags
	signCmd := &cobra.Command{
		Use:   "sign ID",
		Short: "Sign a roster entry that waits for operator signatures (ID: a prefix of its hash)",
		Long: `Finds the pending entry whose hash starts with ID ('mpcctl roster pending'
lists them), shows what it does, checks that it extends the roster this
operator verified, signs it with this operator's key and submits it. It is
appended once enough operators signed it.

A genesis waiting for signatures is signed only if it is the genesis this
operator pinned ('mpcctl roster pin --genesis HASH').`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRosterSign(cmd, g, &signOps, args[0])
		},
	}
	signOps.register(signCmd.Flags())

	// add-device
	var addOps operatorFlags
	var addID string
	addCmd := &cobra.Command{
		Use:   "add-device NAME --device-id ID",
		Short: "Put a device approved before the roster existed on the roster",
		Long: `Adopts a device the coordinator approved before the roster existed: signs an
add_device entry with the keys the device enrolled with. --device-id is the
full device id read on the device itself ('party status'), not from the
coordinator: it must match both the coordinator's record and the device's
identity key, so that the coordinator cannot put another key in its place.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRosterAddDevice(cmd, g, &addOps, args[0], addID)
		},
	}
	addCmd.Flags().StringVar(&addID, "device-id", "", "the device's full id, as 'party status' shows it on the device (required)")
	_ = addCmd.MarkFlagRequired("device-id")
	addOps.register(addCmd.Flags())

	cmd.AddCommand(initCmd, pinCmd, showCmd, verifyCmd, pendingCmd, signCmd, addCmd, newRosterOperatorsCmd(g))
	return cmd
}

func runRosterInit(cmd *cobra.Command, g *globals, o *operatorFlags, extra []string, quorum int, deviceApproval bool) error {
	ops := make([]roster.Operator, 0, 1+len(extra))
	var parsed []roster.Operator
	for _, s := range extra {
		op, err := parseOperator(s)
		if err != nil {
			return err
		}
		parsed = append(parsed, op)
	}
	if old, err := loadPin(o.dir); err == nil {
		return fmt.Errorf("this operator pinned roster %s already (%s): an institution has one roster; if that one was abandoned, remove the file first", old.genesis, pinPath(o.dir))
	} else if !errors.Is(err, errNoPin) {
		return err
	}
	k, err := o.load()
	if err != nil {
		return err
	}
	ops = append(ops, roster.Operator{Name: k.Name(), Key: k.PublicKey()})
	ops = append(ops, parsed...)
	genesis, err := roster.NewGenesis(ops, quorum, deviceApproval, time.Now())
	if err != nil {
		return fmt.Errorf("%w: check --operator and --quorum (1 to the number of operators, this one included)", err)
	}
	genesis.Sign(k)

	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	cur, err := c.GetRoster(ctx, &mpcv1.GetRosterRequest{FromHeight: 0})
	if err != nil {
		return err
	}
	if cur.GetExists() {
		gh := "?"
		if len(cur.GetEntries()) > 0 {
			gh = roster.EntryFromProto(cur.GetEntries()[0]).Hash().String()
		}
		return fmt.Errorf("the coordinator has a roster already (genesis %s, height %d): to join it, pin its genesis with 'mpcctl roster pin --genesis HASH', taking the hash from the operator who created it (not from the coordinator)", gh, cur.GetHeight())
	}
	resp, err := c.SubmitRosterEntry(ctx, &mpcv1.SubmitRosterEntryRequest{Entry: roster.EntryProto(genesis)})
	if err != nil {
		return err
	}
	h := genesis.Hash()
	if err := savePin(o.dir, rosterPin{genesis: h, height: 0, head: h}); err != nil {
		return fmt.Errorf("the genesis %s was submitted, but pinning it failed (%w): run 'mpcctl roster pin --genesis %s'", h, err, h)
	}
	w := cmd.OutOrStdout()
	if g.asJSON {
		out := outcomeJSON(genesis, resp)
		out["genesis"] = h.String()
		b, _ := roster.DecodeBody(genesis.Body)
		out["operators"] = bodyJSON(b, nil)["operators"]
		out["quorum"] = quorum
		return printJSON(w, out)
	}
	fmt.Fprintf(w, "roster genesis: %s\n\noperators (quorum %d):\n", h, quorum)
	for _, op := range ops {
		fmt.Fprintf(w, "  %-20s %s\n", op.Name, keyfile.Fingerprint(op.Key))
	}
	fmt.Fprintln(w)
	if resp.GetAppended() {
		fmt.Fprintln(w, "The roster exists now. Devices paired from now on pin this genesis (it is in every pairing code).")
	} else {
		fmt.Fprintf(w, "The genesis waits for more operator signatures: signed by %s; the quorum is %d.\n", signedByText(resp.GetSignedBy()), resp.GetQuorum())
		fmt.Fprintf(w, "Each other operator runs, after pinning it: mpcctl roster sign %s\n", entryID(h))
	}
	fmt.Fprintf(w, "Give the hash to the other operators over another channel than the coordinator; each runs:\n  mpcctl roster pin --genesis %s\n", h)
	fmt.Fprintln(w, "Devices approved before the roster existed are not on it yet: adopt each with 'mpcctl roster add-device NAME --device-id ID'.")
	return nil
}

func runRosterSign(cmd *cobra.Command, g *globals, o *operatorFlags, id string) error {
	prefix := strings.ToLower(strings.TrimSpace(id))
	if _, err := hex.DecodeString(prefix + strings.Repeat("0", len(prefix)%2)); err != nil || prefix == "" || len(prefix) > 64 {
		return fmt.Errorf("ID %q: give a prefix of the entry's hash, as 'mpcctl roster pending' lists it", id)
	}
	k, err := o.load()
	if err != nil {
		return err
	}
	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	resp, err := c.GetRoster(ctx, &mpcv1.GetRosterRequest{FromHeight: 0})
	if err != nil {
		return err
	}
	find := func(pending []roster.Entry) (roster.Entry, error) {
		var found []roster.Entry
		for _, e := range pending {
			if strings.HasPrefix(e.Hash().String(), prefix) {
				found = append(found, e)
			}
		}
		switch len(found) {
		case 0:
			return roster.Entry{}, fmt.Errorf("no roster entry %s waits for signatures: 'mpcctl roster pending' lists those that do", id)
		case 1:
			return found[0], nil
		}
		return roster.Entry{}, fmt.Errorf("%d pending entries start with %s: give more of the hash", len(found), id)
	}
	w := cmd.OutOrStdout()
	if !resp.GetExists() {
		return signGenesis(w, g.asJSON, ctx, c, o, k, find, entriesFromProto(resp.GetPending()))
	}
	v, err := verifyResponse(o.dir, resp)
	if err != nil {
		return err
	}
	st := v.state
	e, err := find(v.pending)
	if err != nil {
		return err
	}
	b, err := roster.DecodeBody(e.Body)
	if err != nil {
		return fmt.Errorf("entry %s is malformed (%w): do not sign it", id, err)
	}
	names, _, err := st.Signers(e)
	if err != nil {
		return fmt.Errorf("entry %s does not extend the roster this operator verified (%w): do not sign it", entryID(e.Hash()), err)
	}
	if !g.asJSON {
		printEntryDetail(w, e, b, st, names)
	}
	if !isOperator(st.Operators(), k.PublicKey()) {
		return fmt.Errorf("this operator's key (%s, fingerprint %s) is not one of the roster's operators: only they can sign its entries", k.Name(), keyfile.Fingerprint(k.PublicKey()))
	}
	// A co-signature joins an operator's: an entry no operator signed yet
	// came from the coordinator (which may be hostile), and a co-signer
	// cannot check a device's short authentication string.
	if operatorCount(names) == 0 {
		return fmt.Errorf("no operator has signed entry %s yet: it did not come from one of you, do not sign it (an operator starts an entry with 'mpcctl devices approve', 'devices revoke', 'roster operators' or 'requesters create|grant|revoke')", entryID(e.Hash()))
	}
	e.Sign(k)
	if _, _, err := st.Signers(e); err != nil {
		return fmt.Errorf("the roster would refuse the signed entry: %w", err)
	}
	sub, err := submitEntry(ctx, c, o.dir, st, e, b)
	if err != nil {
		return err
	}
	if g.asJSON {
		out := outcomeJSON(e, sub)
		out["entry"] = bodyJSON(b, st)
		return printJSON(w, out)
	}
	fmt.Fprintf(w, "signed as %s\n", k.Name())
	printOutcome(w, e, sub)
	if sub.GetAppended() && b.Kind == roster.KindRevokeDevice {
		fmt.Fprintln(w, "the device is revoked; its keys are reshared in the background ('mpcctl keys jobs' shows them)")
	}
	return nil
}

// signGenesis signs a genesis that waits for signatures, if it is the one
// this operator pinned.
func signGenesis(w io.Writer, asJSON bool, ctx context.Context, c mpcv1.AdminServiceClient, o *operatorFlags, k *keyfile.Key,
	find func([]roster.Entry) (roster.Entry, error), pending []roster.Entry) error {
	pin, err := loadPin(o.dir)
	if err != nil {
		return err
	}
	if pin.height > 0 {
		return fmt.Errorf("DANGER: %w: the coordinator says it has no roster, but this operator verified roster %s up to height %d. %s",
			roster.ErrRollback, pin.genesis, pin.height, dangerAdvice)
	}
	e, err := find(pending)
	if err != nil {
		return fmt.Errorf("the coordinator has no roster yet, and %w", err)
	}
	if e.Hash() != pin.genesis {
		return fmt.Errorf("entry %s is not the genesis this operator pinned (%s): do not sign it; compare the hash with the operator who created the roster", e.Hash(), pin.genesis)
	}
	b, err := roster.DecodeBody(e.Body)
	if err != nil {
		return fmt.Errorf("the pending genesis is malformed (%w): do not sign it", err)
	}
	names, need, err := roster.GenesisSigners(e)
	if err != nil {
		return fmt.Errorf("the pending genesis does not verify (%w): do not sign it", err)
	}
	if !isOperator(b.Operators, k.PublicKey()) {
		return fmt.Errorf("this operator's key (%s, fingerprint %s) is not one of the genesis's operators", k.Name(), keyfile.Fingerprint(k.PublicKey()))
	}
	if !asJSON {
		fmt.Fprintf(w, "entry %s (height 0): genesis\n  %s\n  signed by: %s (quorum %d)\n", entryID(e.Hash()), describe(b, nil), signedByText(names), need)
		for _, op := range b.Operators {
			fmt.Fprintf(w, "  operator %-20s %s\n", op.Name, keyfile.Fingerprint(op.Key))
		}
	}
	e.Sign(k)
	sub, err := c.SubmitRosterEntry(ctx, &mpcv1.SubmitRosterEntryRequest{Entry: roster.EntryProto(e)})
	if err != nil {
		return err
	}
	if asJSON {
		out := outcomeJSON(e, sub)
		out["entry"] = bodyJSON(b, nil)
		return printJSON(w, out)
	}
	fmt.Fprintf(w, "signed as %s\n", k.Name())
	printOutcome(w, e, sub)
	return nil
}

// printEntryDetail says what an entry about to be signed does.
func printEntryDetail(w io.Writer, e roster.Entry, b roster.Body, st *roster.State, names []string) {
	fmt.Fprintf(w, "entry %s (height %d): %s\n  %s\n", entryID(e.Hash()), b.Height, b.Kind, describe(b, st))
	switch {
	case b.Device != nil:
		fmt.Fprintf(w, "  device id: %s (compare with 'party status' on the device)\n", b.Device.ID)
	case b.DeviceID != "":
		fmt.Fprintf(w, "  device id: %s\n", b.DeviceID)
	}
	for _, op := range b.Operators {
		fmt.Fprintf(w, "  operator %-20s %s\n", op.Name, keyfile.Fingerprint(op.Key))
	}
	fmt.Fprintf(w, "  signed by: %s (quorum %d)\n", signedByText(names), st.Quorum())
}

func runRosterAddDevice(cmd *cobra.Command, g *globals, o *operatorFlags, name, wantID string) error {
	wantID = strings.ToLower(strings.TrimSpace(wantID))
	k, err := o.load()
	if err != nil {
		return err
	}
	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	st, _, err := verifiedRoster(ctx, c, o.dir)
	if err != nil {
		return err
	}
	devs, err := c.ListDevices(ctx, &mpcv1.ListDevicesRequest{})
	if err != nil {
		return err
	}
	var d *mpcv1.Device
	var ids []string
	for _, x := range devs.GetDevices() {
		if x.GetName() != name {
			continue
		}
		ids = append(ids, x.GetId())
		if x.GetId() == wantID {
			d = x
		}
	}
	switch {
	case len(ids) == 0:
		return fmt.Errorf("the coordinator has no device %q ('mpcctl devices list' shows them)", name)
	case d == nil:
		return fmt.Errorf("the coordinator's device %q has id %s, not the --device-id %s read on the device: do not adopt it; check the id with 'party status' on the device", name, strings.Join(ids, ", "), wantID)
	}
	if got := identity.DeviceID(d.GetIdentityPublicKey()); got != wantID {
		return fmt.Errorf("the identity key the coordinator reports for %q gives device id %s, not %s: do not adopt it, the coordinator may be substituting another key", name, got, wantID)
	}
	if _, ok := st.Device(wantID); ok {
		return fmt.Errorf("device %q (%s) is on the roster already ('mpcctl roster show')", name, wantID)
	}
	switch d.GetStatus() {
	case mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE:
	case mpcv1.DeviceStatus_DEVICE_STATUS_PENDING:
		return fmt.Errorf("device %q is pending: approve it with 'mpcctl devices approve %s --sas SAS' (comparing the string the device shows)", name, name)
	default:
		return fmt.Errorf("device %q is %s: it cannot be put on the roster", name, statusName(d.GetStatus()))
	}
	b := st.Next(roster.KindAddDevice, time.Now())
	b.Device = &roster.Device{ID: wantID, Name: name, IdentityKey: d.GetIdentityPublicKey(), EncryptionKey: d.GetEncryptionPublicKey()}
	e, sub, err := signSubmit(ctx, c, o.dir, st, b, k)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if g.asJSON {
		out := outcomeJSON(e, sub)
		out["entry"] = bodyJSON(b, st)
		return printJSON(w, out)
	}
	fmt.Fprintf(w, "device %q (%s): add_device entry signed as %s\n", name, wantID, k.Name())
	printOutcome(w, e, sub)
	return nil
}

func printRoster(w io.Writer, asJSON bool, v *verified) error {
	st := v.state
	signers, err := entrySigners(v.entries)
	if err != nil {
		return err // verified a moment ago: cannot happen
	}
	infos := checkPending(st, v.pending)
	if asJSON {
		var entries []map[string]any
		for i, e := range v.entries {
			b, _ := roster.DecodeBody(e.Body)
			m := bodyJSON(b, st)
			m["hash"] = e.Hash().String()
			m["signed_by"] = signers[i]
			entries = append(entries, m)
		}
		return printJSON(w, map[string]any{
			"genesis": st.GenesisHash().String(), "height": st.Height(), "head": st.Head().String(), "quorum": st.Quorum(),
			"entries": entries, "pending": pendingJSON(st, infos),
		})
	}
	fmt.Fprintf(w, "genesis: %s\nhead:    %s (height %d)\nquorum:  %d of %d operators\n\n", st.GenesisHash(), st.Head(), st.Height(), st.Quorum(), len(st.Operators()))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HEIGHT\tTIME\tKIND\tWHAT\tSIGNED BY")
	for i, e := range v.entries {
		b, _ := roster.DecodeBody(e.Body)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", b.Height, fmtTime(time.Unix(b.Time, 0)), b.Kind, describe(b, st), signedByText(signers[i]))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(infos) > 0 {
		fmt.Fprintln(w, "\nwaiting for operator signatures:")
		return printPending(w, st, infos)
	}
	return nil
}

func printPending(w io.Writer, st *roster.State, infos []pendingInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tWHAT\tSIGNED BY\tQUORUM")
	for _, p := range infos {
		if p.err != nil {
			fmt.Fprintf(tw, "%s\t%s\tdoes not extend the verified roster: %v\t-\t-\n", p.id, p.body.Kind, p.err)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d of %d\n", p.id, p.body.Kind, describe(p.body, st), signedByText(p.signedBy), operatorCount(p.signedBy), p.need)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "to sign one: mpcctl roster sign ID")
	return nil
}

func pendingJSON(st *roster.State, infos []pendingInfo) []map[string]any {
	out := []map[string]any{}
	for _, p := range infos {
		m := map[string]any{"id": p.id, "hash": p.entry.Hash().String()}
		if p.err != nil {
			m["error"] = p.err.Error()
		} else {
			m["entry"] = bodyJSON(p.body, st)
			m["signed_by"] = p.signedBy
			m["quorum"] = p.need
		}
		out = append(out, m)
	}
	return out
}
