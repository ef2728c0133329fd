package testkit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// Operator is a test operator's signing key (held by the test, never by
// the coordinator).
type Operator struct {
	Name string
	priv ed25519.PrivateKey
}

// NewOperator makes a fresh operator key.
func NewOperator(name string) *Operator {
	_, priv, _ := ed25519.GenerateKey(rand.Reader) // crypto/rand never fails (Go 1.24+)
	return &Operator{Name: name, priv: priv}
}

// PublicKey is the operator's Ed25519 public key.
func (o *Operator) PublicKey() ed25519.PublicKey { return o.priv.Public().(ed25519.PublicKey) }

// Sign signs msg with the operator's key.
func (o *Operator) Sign(msg []byte) []byte { return ed25519.Sign(o.priv, msg) }

// Info is the operator as a roster lists it.
func (o *Operator) Info() roster.Operator { return roster.Operator{Name: o.Name, Key: o.PublicKey()} }

// StartRoster submits a genesis signed by op alone (quorum 1) and returns
// its hash: pairing codes made from now on carry it.
func (c *Cluster) StartRoster(t testing.TB, op *Operator) roster.Hash {
	t.Helper()
	g, err := roster.NewGenesis([]roster.Operator{op.Info()}, 1, false, time.Now())
	if err != nil {
		t.Fatalf("genesis: %v", err)
	}
	g.Sign(op)
	c.SubmitRoster(t, g)
	c.mu.Lock()
	c.operator = op
	c.mu.Unlock()
	return g.Hash()
}

// SubmitRoster submits an entry and fails the test unless it is appended.
func (c *Cluster) SubmitRoster(t testing.TB, e roster.Entry) {
	t.Helper()
	resp, err := c.Admin.SubmitRosterEntry(context.Background(), &mpcv1.SubmitRosterEntryRequest{Entry: roster.EntryProto(e)})
	if err != nil {
		t.Fatalf("submit roster entry: %v", err)
	}
	if !resp.GetAppended() {
		t.Fatalf("roster entry not appended: signed by %v of a quorum of %d", resp.GetSignedBy(), resp.GetQuorum())
	}
}

// Roster fetches and verifies the coordinator's roster from its genesis.
func (c *Cluster) Roster(t testing.TB) *roster.State {
	t.Helper()
	resp, err := c.Admin.GetRoster(context.Background(), &mpcv1.GetRosterRequest{})
	if err != nil || !resp.GetExists() {
		t.Fatalf("get roster: exists=%v %v", resp.GetExists(), err)
	}
	var entries []roster.Entry
	for _, p := range resp.GetEntries() {
		entries = append(entries, roster.EntryFromProto(p))
	}
	st, err := roster.Verify(entries[0].Hash(), entries)
	if err != nil {
		t.Fatalf("verify roster: %v", err)
	}
	return st
}

// SignAddDevice makes the add-device entry of an enrolled device, signed by op.
func (c *Cluster) SignAddDevice(t testing.TB, op *Operator, name string) roster.Entry {
	t.Helper()
	devs, err := c.Admin.ListDevices(context.Background(), &mpcv1.ListDevicesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	st := c.Roster(t)
	for _, d := range devs.GetDevices() {
		if d.GetName() != name || d.GetStatus() == mpcv1.DeviceStatus_DEVICE_STATUS_REVOKED {
			continue
		}
		b := st.Next(roster.KindAddDevice, time.Now())
		b.Device = &roster.Device{ID: d.GetId(), Name: d.GetName(), IdentityKey: d.GetIdentityPublicKey(), EncryptionKey: d.GetEncryptionPublicKey()}
		return signed(t, op, b)
	}
	t.Fatalf("no device %s", name)
	return roster.Entry{}
}

// SignRevoke makes the revoke entry of a device, signed by op.
func (c *Cluster) SignRevoke(t testing.TB, op *Operator, deviceID, reason string) roster.Entry {
	t.Helper()
	b := c.Roster(t).Next(roster.KindRevokeDevice, time.Now())
	b.DeviceID, b.Reason = deviceID, reason
	return signed(t, op, b)
}

func signed(t testing.TB, op *Operator, b roster.Body) roster.Entry {
	t.Helper()
	raw, err := roster.EncodeBody(b)
	if err != nil {
		t.Fatal(err)
	}
	e := roster.Entry{Body: raw}
	e.Sign(op)
	return e
}

// SignCeremony signs a ceremony that fill completes (the roster height,
// genesis, validity and nonce are set), with op.
func (c *Cluster) SignCeremony(t testing.TB, op *Operator, kind roster.CeremonyKind, fill func(*roster.Ceremony)) *mpcv1.Authorization {
	t.Helper()
	cer := c.Roster(t).NewCeremony(kind, time.Hour, time.Now())
	fill(&cer)
	raw, err := roster.EncodeCeremony(cer)
	if err != nil {
		t.Fatalf("ceremony: %v", err)
	}
	a := roster.Authorization{Body: raw}
	a.Sign(op)
	return roster.AuthorizationProto(a)
}

// DeviceIDs maps device names to ids.
func (c *Cluster) DeviceIDs(t testing.TB, names ...string) []string {
	t.Helper()
	devs, err := c.Admin.ListDevices(context.Background(), &mpcv1.ListDevicesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		for _, d := range devs.GetDevices() {
			if d.GetName() == n && d.GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_REVOKED {
				out = append(out, d.GetId())
			}
		}
	}
	if len(out) != len(names) {
		t.Fatalf("devices %v: found %d", names, len(out))
	}
	return out
}

// SignKeygen is the operator's authorization of a secp256k1 keygen.
func (c *Cluster) SignKeygen(t testing.TB, op *Operator, threshold uint32, names ...string) *mpcv1.Authorization {
	t.Helper()
	ids := c.DeviceIDs(t, names...)
	return c.SignCeremony(t, op, roster.CeremonyKeygen, func(cer *roster.Ceremony) {
		cer.Curve, cer.Threshold, cer.Committee = roster.CurveSecp256k1, int(threshold), ids
	})
}
