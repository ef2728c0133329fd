package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
	"github.com/mpcsign/mpcsign/internal/rostertext"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// entryText says what an entry does, naming devices and requesters from a
// state that knows them, with the grants as 'requesters list' says them.
var entryText = rostertext.Style{Grants: grantsText}

func bodyJSON(b roster.Body, st *roster.State) map[string]any {
	m := map[string]any{"height": b.Height, "time": time.Unix(b.Time, 0).UTC(), "kind": string(b.Kind), "what": entryText.Describe(b, st)}
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
