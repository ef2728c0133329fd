package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/blame"
	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/pairing"
	"github.com/mpcsign/mpcsign/resharing"
)

// The synthetic records are shaped as the coordinator makes them: devices
// enrolled with a pairing code and active; 2-of-3 secp256k1 keys, each with
// a real public key, a chain code, its holders' attestations signed with
// their identity keys, and tss-lib public data of a real key's size; audit
// entries of signatures. Only the tss-lib public data (blame.KeyPublic) is
// made of random numbers: listing and looking up keys copy it, and only the
// judge of a signing complaint would read it.
const (
	fillThreshold = 1 // 2-of-3
	fillHolders   = 3
	// keyPublicBlobs distinct tss-lib public data blobs are made and shared
	// out round robin: making one per key would cost more than the fill.
	keyPublicBlobs = 64
)

// fleet is the synthetic devices, with their identities: the holders sign
// their keys' attestations, and the streams subcommand's devices answer the
// coordinator's challenge.
type fleet struct {
	ids  []*identity.Identity
	devs []registry.Device
}

// newFleet makes n active devices named dev-00001 and on.
func newFleet(n int, now time.Time) (*fleet, error) {
	f := &fleet{}
	for i := range n {
		id, err := identity.New()
		if err != nil {
			return nil, err
		}
		var secret [pairing.SecretSize]byte
		if _, err := rand.Read(secret[:]); err != nil {
			return nil, err
		}
		pub, enc := id.PublicKey(), id.EncryptionPublicKey()
		f.ids = append(f.ids, id)
		f.devs = append(f.devs, registry.Device{
			ID: identity.DeviceID(pub), Name: fmt.Sprintf("dev-%05d", i+1), Status: registry.DeviceActive,
			IdentityPublicKey: pub, EncryptionPublicKey: enc, PairedAt: now.Add(-time.Duration(n-i) * time.Minute),
			LastSeen: now, SAS: pairing.SAS(secret[:], pub, enc),
		})
	}
	return f, nil
}

// keyMaker makes the synthetic keys and remembers their ids and holders'
// names, which the audit entries name.
type keyMaker struct {
	fleet *fleet
	now   time.Time
	blobs [][]byte
	ids   []string
	names [][]string // holders' device names, by key
}

func newKeyMaker(f *fleet, now time.Time) (*keyMaker, error) {
	m := &keyMaker{fleet: f, now: now}
	for range keyPublicBlobs {
		b, err := randomKeyPublic()
		if err != nil {
			return nil, err
		}
		m.blobs = append(m.blobs, b)
	}
	return m, nil
}

// randomKeyPublic is tss-lib public data of a 2-of-3 secp256k1 key's size:
// three parties' ids, Paillier moduli and NTilde, h1, h2 (2048 bits), and
// share points.
func randomKeyPublic() ([]byte, error) {
	num := func(bits int) (*big.Int, error) {
		return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits)))
	}
	var p blame.KeyPublic
	var err error
	for range fillHolders {
		vals := make([]*big.Int, 7)
		for i, bits := range []int{256, 2048, 2048, 2048, 2048, 256, 256} {
			if vals[i], err = num(bits); err != nil {
				return nil, err
			}
		}
		p.Ks, p.PaillierNs, p.NTildej = append(p.Ks, vals[0]), append(p.PaillierNs, vals[1]), append(p.NTildej, vals[2])
		p.H1j, p.H2j, p.BigXj = append(p.H1j, vals[3]), append(p.H2j, vals[4]), append(p.BigXj, [2]*big.Int{vals[5], vals[6]})
	}
	if p.ECDSAPub[0], err = num(256); err != nil {
		return nil, err
	}
	if p.ECDSAPub[1], err = num(256); err != nil {
		return nil, err
	}
	return json.Marshal(p)
}

// key makes key i, held by three devices spread over the fleet.
func (m *keyMaker) key(i int) (registry.Key, error) {
	sk, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		return registry.Key{}, err
	}
	pub := sk.PubKey().SerializeCompressed()
	chain := make([]byte, resharing.ChainCodeLen)
	if _, err := rand.Read(chain); err != nil {
		return registry.Key{}, err
	}
	n := len(m.fleet.devs)
	k := registry.Key{ID: identity.KeyID(pub), Curve: registry.CurveSecp256k1, Threshold: fillThreshold, PublicKey: pub,
		CreatedAt: m.now.Add(-time.Duration(i) * time.Second), ChainCode: chain, KeyPublic: m.blobs[i%len(m.blobs)]}
	var holders []int
	for j := range fillHolders {
		h := (i*fillHolders + j) % n
		holders = append(holders, h)
		k.Holders = append(k.Holders, m.fleet.devs[h].ID)
	}
	committee := slices.Sorted(slices.Values(k.Holders))
	var names []string
	for _, h := range holders {
		d := m.fleet.devs[h]
		share := append([]byte{0x02}, chain...) // a point's length: informational, length-checked only
		att, err := resharing.Attest(resharing.Attestation{Version: resharing.AttestationVersion, KeyID: k.ID, Curve: resharing.CurveSecp256k1,
			PublicKey: pub, ChainCode: chain, Threshold: fillThreshold, Committee: committee, Holder: d.ID, ShareCommitment: share}, m.fleet.ids[h].Sign)
		if err != nil {
			return registry.Key{}, fmt.Errorf("key %d: %w", i, err)
		}
		k.Attestations = append(k.Attestations, registry.AttRecord{Body: att.Body, Sig: att.Signature})
		names = append(names, d.Name)
	}
	m.ids, m.names = append(m.ids, k.ID), append(m.names, names)
	return k, nil
}

// auditMaker makes the audit entries: signatures with the keys made, by a
// signer token, one every 100ms of history ending now.
type auditMaker struct {
	keys  *keyMaker
	n     int
	start time.Time
	actor string
}

func newAuditMaker(keys *keyMaker, n int, now time.Time) (*auditMaker, error) {
	var tok [8]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return nil, err
	}
	return &auditMaker{keys: keys, n: n, start: now.Add(-time.Duration(n) * 100 * time.Millisecond), actor: "token:" + hex.EncodeToString(tok[:])}, nil
}

// entry is the i-th entry, as the coordinator's Sign writes it (not sealed).
func (a *auditMaker) entry(i int) auditlog.Entry {
	var digest [32]byte
	_, _ = rand.Read(digest[:]) // crypto/rand.Read never fails
	e := auditlog.Entry{Time: a.start.Add(time.Duration(i) * 100 * time.Millisecond).UTC(), Action: "sign", Actor: a.actor, Result: "ok",
		Detail: fmt.Sprintf("digest %x request %s", digest, strconv.Quote(fmt.Sprintf("req-%08d", i)))}
	if k := len(a.keys.ids); k > 0 {
		j := (i * 7) % k
		e.KeyID, e.Devices = a.keys.ids[j], a.keys.names[j][:fillThreshold+1]
	}
	return e
}
