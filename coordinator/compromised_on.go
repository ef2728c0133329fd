//go:build compromised

package coordinator

import (
	"crypto/ed25519"
	"crypto/sha256"
	"os"
	"strings"
	"sync"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"google.golang.org/protobuf/proto"

	"github.com/mpcsign/mpcsign/internal/hd"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// A coordinator built with -tags compromised plays an attacker who owns the
// coordinator's machine, for the e2e suite's compromised-coordinator tests
// only. MPCSIGN_COMPROMISED lists what it does (comma-separated):
//
//	approve-all      activates every enrolled device at once, roster or not
//	                 (a device no operator signed)
//	roster-rollback  serves devices the roster without its newest entry
//	forge-key-sync   tells every connecting device that each of its keys
//	                 moved to the next epoch, without a commit certificate
//	                 (which would make a device trusting it erase its share)
//	skip-ceremony-checks
//	                 runs keygens and reshares whatever their operator
//	                 authorization (none, expired, for another session):
//	                 only the devices' own checks stand in the way
//	skip-request-checks
//	                 passes Sign calls to the devices whatever their
//	                 requester signature (none, bad, for other content,
//	                 expired, replayed, by an unknown or revoked requester)
//	                 and without its request-id store: only the devices'
//	                 own checks stand in the way
//	withhold-echo    drops the signing protocol's last-round messages, so
//	                 that the devices see each signature fail (and the
//	                 coordinator could assemble it from the broadcast
//	                 shares itself; coordinator/relay does this one)
//	keep-serving-deposed
//	                 a replica that lost the leader lease goes on serving
//	                 (cmd/coordinator asks): only the store's fencing check
//	                 refuses its writes
//	drill-signed-committee
//	                 runs a drill (DrillKey) on the new committee the
//	                 authorization it is given names, not on the key's
//	                 holders it recorded: a standing drill signed before
//	                 the key was reshared moves the key back to the
//	                 committee it left, unless the devices refuse
//	forge-keys       answers GetKey and CreateKey with a public key of its
//	                 own (and its addresses) in place of the key's, keeping
//	                 the id, holders, chain code and the holders' signed
//	                 attestations (which state the real key: it cannot sign
//	                 as a device); a derived request gets its own key's child
//	                 at the path asked
//	forge-key-path   answers a derived GetKey with the real key and
//	                 attestations and the real child of another path (the
//	                 last step's index with its low bit flipped), labelled
//	                 with that path
//	forge-key-child  answers a derived GetKey with the real key and
//	                 attestations and a child of its own key, labelled with
//	                 the path asked
//	swap-keys        answers GetKey about one key with another key it holds
//	                 (genuine and attested, but not the one asked for)
//
// The default build has none of this (compromised_off.go).
func compromisedAs(what string) bool {
	for _, w := range strings.Split(os.Getenv("MPCSIGN_COMPROMISED"), ",") {
		if strings.TrimSpace(w) == what {
			return true
		}
	}
	return false
}

func compromisedApproveAll() bool { return compromisedAs("approve-all") }

func compromisedSkipCeremonyChecks() bool { return compromisedAs("skip-ceremony-checks") }

func compromisedSkipRequestChecks() bool { return compromisedAs("skip-request-checks") }

// compromisedDrillHolders: with drill-signed-committee, the device ids a
// drill under authorization p runs on: the new committee p names (its
// signature unchecked), whatever the key's recorded holders. nil: the
// key's holders, as the product build has it.
func compromisedDrillHolders(p *mpcv1.Authorization) []string {
	if !compromisedAs("drill-signed-committee") || p == nil {
		return nil
	}
	c, err := roster.DecodeCeremony(p.GetBody())
	if err != nil {
		return nil
	}
	return c.NewCommittee
}

func compromisedKeyEpoch(ke *mpcv1.KeyEpoch) *mpcv1.KeyEpoch {
	if !compromisedAs("forge-key-sync") {
		return ke
	}
	return &mpcv1.KeyEpoch{KeyId: ke.GetKeyId(), CommittedEpoch: ke.GetCommittedEpoch() + 1, NextEpoch: ke.GetCommittedEpoch() + 2}
}

func compromisedRosterUpdate(u *mpcv1.RosterUpdate) *mpcv1.RosterUpdate {
	if !compromisedAs("roster-rollback") || u.GetHeight() == 0 {
		return u
	}
	out := &mpcv1.RosterUpdate{FirstHeight: u.GetFirstHeight(), Height: u.GetHeight() - 1}
	if n := len(u.GetEntries()); n > 0 {
		out.Entries = u.GetEntries()[:n-1]
	}
	return out
}

// CompromisedKeepServingDeposed: with keep-serving-deposed, a replica that
// lost the leader lease (to a replica that took it while this one was
// paused or cut off) goes on serving, as an attacker who owns its machine
// would have it: only the store's fencing check stands in the way of its
// writes.
func CompromisedKeepServingDeposed() bool { return compromisedAs("keep-serving-deposed") }

// compromisedOwnKeys are the attacker's own public keys, one per curve:
// what forge-keys and forge-key-child put in place of the devices' key.
// Fixed, from a labelled seed: no secret needs guarding in a test build,
// and nothing can fail.
var compromisedOwnKeys = sync.OnceValues(func() (secp, ed []byte) {
	seed := sha256.Sum256([]byte("mpcsign TEST-ONLY compromised coordinator's own key"))
	edPub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
	return secp256k1.PrivKeyFromBytes(seed[:]).PubKey().SerializeCompressed(), edPub
})

// compromisedOwnKey is the attacker's public key of k's curve.
func compromisedOwnKey(k *mpcv1.Key) []byte {
	secp, ed := compromisedOwnKeys()
	if k.GetCurve() == mpcv1.Curve_CURVE_ED25519 {
		return ed
	}
	return secp
}

// compromisedForgeKey is k with the attacker's public key and its
// addresses; all else (id, holders, chain code, attestations) is k's.
func compromisedForgeKey(k *mpcv1.Key) *mpcv1.Key {
	f := proto.Clone(k).(*mpcv1.Key)
	curve := curveSecp256k1
	if k.GetCurve() == mpcv1.Curve_CURVE_ED25519 {
		curve = curveEd25519
	}
	f.PublicKey = compromisedOwnKey(k)
	f.Addresses = addresses(curve, f.PublicKey)
	return f
}

// compromisedChild is the child of pub at path under k's chain code, as a
// DerivedKey labelled label (nil if it does not derive).
func compromisedChild(k *mpcv1.Key, pub []byte, path []uint32, label string) *mpcv1.DerivedKey {
	d, err := hd.Derive(pub, k.GetChainCode(), path)
	if err != nil {
		return nil
	}
	return &mpcv1.DerivedKey{Path: label, PublicKey: d.PublicKey, Addresses: addresses(curveSecp256k1, d.PublicKey)}
}

func compromisedCreatedKey(k *mpcv1.Key) *mpcv1.Key {
	if !compromisedAs("forge-keys") {
		return k
	}
	return compromisedForgeKey(k)
}

// compromisedGetKey rewrites a GetKey answer as forge-keys, forge-key-path,
// forge-key-child and swap-keys say.
func compromisedGetKey(s *Server, req *mpcv1.GetKeyRequest, out *mpcv1.GetKeyResponse) *mpcv1.GetKeyResponse {
	k, derived := out.GetKey(), out.GetDerived() != nil
	var path []uint32
	if derived {
		var err error
		if path, err = hd.ParsePath(req.GetPath()); err != nil {
			return out
		}
	}
	asked := hd.FormatPath(path)
	switch {
	case compromisedAs("swap-keys"):
		keys, err := s.store.ListKeysAfter("", 16)
		if err != nil {
			return out
		}
		for _, other := range keys {
			if other.ID == k.GetId() {
				continue
			}
			swapped := &mpcv1.GetKeyResponse{Key: s.keyProto(other)}
			if derived {
				if swapped.Derived, err = derive(other, asked); err != nil {
					return out
				}
			}
			return swapped
		}
		return out
	case compromisedAs("forge-keys"):
		forged := &mpcv1.GetKeyResponse{Key: compromisedForgeKey(k)}
		if derived {
			forged.Derived = compromisedChild(k, forged.Key.GetPublicKey(), path, asked)
		}
		return forged
	case !derived || len(path) == 0:
		return out
	case compromisedAs("forge-key-path"):
		other := append([]uint32(nil), path...)
		other[len(other)-1] ^= 1
		if d := compromisedChild(k, k.GetPublicKey(), other, hd.FormatPath(other)); d != nil {
			out.Derived = d
		}
	case compromisedAs("forge-key-child"):
		if d := compromisedChild(k, compromisedOwnKey(k), path, asked); d != nil {
			out.Derived = d
		}
	}
	return out
}
