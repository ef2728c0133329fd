package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/pairing"
	"github.com/mpcsign/mpcsign/internal/roster"
	"github.com/mpcsign/mpcsign/keystore"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/signreq"
)

// demoOperator is the demo's operator: a key on "her own machine" (a
// directory of the demo), the genesis she pinned, and the roster she
// verified from it. The coordinator never sees the key.
type demoOperator struct {
	key     *keyfile.Key
	genesis roster.Hash
	admin   mpcv1.AdminServiceClient
}

// operatorKDF are the Argon2id parameters of the operator's key file, as
// 'mpcctl operator init' writes it.
var operatorKDF = keystore.DefaultKDF()

// newDemoOperator writes an encrypted operator key (as 'mpcctl operator
// init' does) and starts the roster with it (as 'mpcctl roster init').
func newDemoOperator(ctx context.Context, dir string, admin mpcv1.AdminServiceClient) (*demoOperator, error) {
	key, err := keyfile.Generate(keyfile.KindOperator, "alice")
	if err != nil {
		return nil, err
	}
	var pw [16]byte
	if _, err := rand.Read(pw[:]); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	pass := keystore.NewPassphrase([]byte(hex.EncodeToString(pw[:])))
	if err := keyfile.Write(filepath.Join(dir, "operator.key"), key, pass, operatorKDF); err != nil {
		return nil, err
	}
	g, err := roster.NewGenesis([]roster.Operator{{Name: key.Name(), Key: key.PublicKey()}}, 1, false, time.Now())
	if err != nil {
		return nil, err
	}
	g.Sign(key)
	o := &demoOperator{key: key, genesis: g.Hash(), admin: admin}
	if err := o.submit(ctx, g); err != nil {
		return nil, err
	}
	return o, nil
}

// verified fetches the coordinator's roster and verifies it from the
// pinned genesis: the operator signs nothing on top of a forged chain.
func (o *demoOperator) verified(ctx context.Context) (*roster.State, error) {
	resp, err := o.admin.GetRoster(ctx, &mpcv1.GetRosterRequest{})
	if err != nil {
		return nil, err
	}
	var entries []roster.Entry
	for _, p := range resp.GetEntries() {
		entries = append(entries, roster.EntryFromProto(p))
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("the coordinator serves no roster")
	}
	return roster.Verify(o.genesis, entries)
}

// sign builds the next entry with fill, signs it and returns it.
func (o *demoOperator) sign(ctx context.Context, kind roster.Kind, fill func(*roster.Body)) (roster.Entry, error) {
	st, err := o.verified(ctx)
	if err != nil {
		return roster.Entry{}, err
	}
	b := st.Next(kind, time.Now())
	fill(&b)
	raw, err := roster.EncodeBody(b)
	if err != nil {
		return roster.Entry{}, err
	}
	e := roster.Entry{Body: raw}
	e.Sign(o.key)
	return e, nil
}

func (o *demoOperator) submit(ctx context.Context, e roster.Entry) error {
	resp, err := o.admin.SubmitRosterEntry(ctx, &mpcv1.SubmitRosterEntryRequest{Entry: roster.EntryProto(e)})
	if err != nil {
		return err
	}
	if !resp.GetAppended() {
		return fmt.Errorf("roster entry not appended (quorum %d)", resp.GetQuorum())
	}
	return nil
}

// approve signs a pending device onto the roster after the SAS matched.
func (o *demoOperator) approve(ctx context.Context, d *mpcv1.Device) (uint64, error) {
	e, err := o.sign(ctx, roster.KindAddDevice, func(b *roster.Body) {
		b.Device = &roster.Device{ID: d.GetId(), Name: d.GetName(), IdentityKey: d.GetIdentityPublicKey(), EncryptionKey: d.GetEncryptionPublicKey()}
	})
	if err != nil {
		return 0, err
	}
	body, _ := roster.DecodeBody(e.Body)
	return body.Height, o.submit(ctx, e)
}

// revoke signs a device's revocation.
func (o *demoOperator) revoke(ctx context.Context, deviceID, reason string) (roster.Entry, error) {
	return o.sign(ctx, roster.KindRevokeDevice, func(b *roster.Body) { b.DeviceID, b.Reason = deviceID, reason })
}

// ceremony signs a ceremony that fill completes.
func (o *demoOperator) ceremony(ctx context.Context, kind roster.CeremonyKind, validFor time.Duration, fill func(*roster.Ceremony)) (*mpcv1.Authorization, error) {
	st, err := o.verified(ctx)
	if err != nil {
		return nil, err
	}
	c := st.NewCeremony(kind, validFor, time.Now())
	fill(&c)
	raw, err := roster.EncodeCeremony(c)
	if err != nil {
		return nil, err
	}
	a := roster.Authorization{Body: raw}
	a.Sign(o.key)
	return roster.AuthorizationProto(a), nil
}

// idsOf maps device names to ids through the operator's verified roster.
func (o *demoOperator) idsOf(ctx context.Context, names ...string) ([]string, error) {
	st, err := o.verified(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		d, ok := st.ActiveByName(n)
		if !ok {
			return nil, fmt.Errorf("device %q is not active on the roster", n)
		}
		out = append(out, d.ID)
	}
	return out, nil
}

// pairingCode makes an operator-made pairing code (as 'mpcctl devices pair'
// does once a roster is pinned) and returns it with its secret.
func (o *demoOperator) pairingCode(ctx context.Context, name, fingerprint string) (string, []byte, error) {
	var code pairing.Code
	if _, err := rand.Read(code.Secret[:]); err != nil {
		return "", nil, err
	}
	resp, err := o.admin.CreatePairingCode(ctx, &mpcv1.CreatePairingCodeRequest{Name: name, AuthKey: pairing.AuthKey(code.Secret[:])})
	if err != nil {
		return "", nil, err
	}
	fp, err := hex.DecodeString(fingerprint)
	if err != nil || len(fp) != len(code.Fingerprint) || len(resp.GetPairingId()) != len(code.ID) {
		return "", nil, fmt.Errorf("pairing code parts")
	}
	copy(code.ID[:], resp.GetPairingId())
	copy(code.Fingerprint[:], fp)
	code.Genesis, code.Address, code.OperatorMade = o.genesis, resp.GetAddress(), true
	return code.String(), code.Secret[:], nil
}

// addRequester registers the wallet backend's key (generated "on the
// wallet's server", the demo's directory) for one key, signed by the
// operator, as 'mpcctl requesters create' does.
func (o *demoOperator) addRequester(ctx context.Context, name, keyID string, key crypto.Signer) (string, error) {
	alg, pub, id, err := signreq.KeyOf(key.Public())
	if err != nil {
		return "", err
	}
	e, err := o.sign(ctx, roster.KindAddRequester, func(b *roster.Body) {
		b.Requester = &roster.Requester{ID: id, Name: name, Algorithm: alg, PublicKey: pub, Keys: []string{keyID}}
	})
	if err != nil {
		return "", err
	}
	return id, o.submit(ctx, e)
}
