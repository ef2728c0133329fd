package party

import (
	"slices"
	"strings"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/resharing"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// Malicious members on the memnet: cases of malicious_test.go and
// malicious_reshare_test.go (over the full cluster, where the coordinator
// judges the evidence) checked here at the devices themselves, in seconds.

// wantBlames checks that every named honest member failed for reason,
// blaming exactly the device ids in culprits.
func wantBlames(t *testing.T, out map[string]memOutcome, reason string, culprits []string, names ...string) {
	t.Helper()
	for _, name := range names {
		f := out[name].failure
		if f == nil {
			t.Fatalf("%s did not fail: %s", name, describe(out))
		}
		if !strings.Contains(f.GetReason(), reason) || !slices.Equal(f.GetCulprits(), culprits) {
			t.Fatalf("%s failed for %q blaming %v; want %q blaming %v (%s)", name, f.GetReason(), f.GetCulprits(), reason, culprits, describe(out))
		}
	}
}

func TestMemnetMaliciousKeygen(t *testing.T) {
	cases := map[string]struct {
		reason string // which check catches it (as in TestMaliciousKeygenParty)
		tamper func(t *testing.T) func(string, string, []byte) [][]byte
	}{
		"wrong VSS share": {"protocol error", func(t *testing.T) func(string, string, []byte) [][]byte {
			return TamperType("KGRound2Message1", func(b []byte) [][]byte {
				return [][]byte{EditPayload(t, b, func(m *keygen.KGRound2Message1) { m.Share = PlusOne(m.Share) })}
			})
		}},
		"equivocating broadcast": {"two different", func(t *testing.T) func(string, string, []byte) [][]byte {
			return TamperType("KGRound1Message", func(b []byte) [][]byte {
				return [][]byte{b, EditPayload(t, b, func(m *keygen.KGRound1Message) { m.Commitment = PlusOne(m.Commitment) })}
			})
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			n := newMemnet(t, []string{"honest1", "honest2", "evil"}, []int{1, 2, 4})
			n.dev["evil"].setTamper(tc.tamper(t))
			out := n.run(&mpcv1.SessionStart{Kind: mpcv1.SessionKind_SESSION_KIND_KEYGEN, Curve: mpcv1.Curve_CURVE_SECP256K1, Threshold: 1}, "honest1", "honest2", "evil")
			wantBlames(t, out, tc.reason, n.ids("evil"), "honest1", "honest2")
			for _, h := range []string{"honest1", "honest2"} {
				if f := out[h].failure; len(f.GetEvidenceKey()) == 0 || len(f.GetEvidenceSignature()) == 0 {
					t.Fatalf("%s blamed evil without its evidence", h)
				}
				if shares, err := ListShares(n.dev[h].ks); err != nil || len(shares) != 0 {
					t.Fatalf("%s stored a share of an aborted keygen: %v %v", h, shares, err)
				}
			}
		})
	}
}

func TestMemnetMaliciousSigner(t *testing.T) {
	n := newMemnet(t, []string{"honest", "evil"}, []int{1, 2})
	k := memKeygen(t, n, mpcv1.Curve_CURVE_SECP256K1, 1, "honest", "evil")
	cases := map[string]struct {
		reason string // as in TestMaliciousSigner
		tamper func(string, string, []byte) [][]byte
	}{
		"degenerate range proof S = 1": {"S", TamperType("SignRound1Message1", func(b []byte) [][]byte {
			return [][]byte{EditPayload(t, b, func(m *signing.SignRound1Message1) { m.RangeProofAlice[3] = []byte{1} })}
		})},
		"bad Bob proof": {"protocol error", TamperType("SignRound2Message", func(b []byte) [][]byte {
			return [][]byte{EditPayload(t, b, func(m *signing.SignRound2Message) { m.ProofBob[0] = PlusOne(m.ProofBob[0]) })}
		})},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			n.dev["evil"].setTamper(tc.tamper)
			out := n.run(&mpcv1.SessionStart{Kind: mpcv1.SessionKind_SESSION_KIND_SIGN, Curve: k.curve, KeyId: k.id, Threshold: 1, Digest: memnetDigest(name)}, "honest", "evil")
			wantBlames(t, out, tc.reason, n.ids("evil"), "honest")
			n.dev["evil"].setTamper(nil)
			memSign(t, n, k, 0, "", "evil", "honest")
		})
	}
}

// TestMemnetMaliciousReshare: an old holder lies in its first reshare
// message (TestMaliciousReshareParty); the runner's own checks blame it.
func TestMemnetMaliciousReshare(t *testing.T) {
	n := newMemnet(t, []string{"evil", "honest1", "honest2"}, []int{4, 1, 2})
	k := memKeygen(t, n, mpcv1.Curve_CURVE_SECP256K1, 1, "evil", "honest1", "honest2")
	g := tss.S256().Params()
	all := []string{"evil", "honest1", "honest2"}
	reshare := func(newEpoch uint64) map[string]memOutcome {
		return n.run(&mpcv1.SessionStart{Kind: mpcv1.SessionKind_SESSION_KIND_RESHARE, Curve: k.curve, KeyId: k.id, Threshold: 1,
			OldCommittee: n.ids("evil", "honest1"), NewCommittee: n.ids(all...), NewThreshold: 1, NewEpoch: newEpoch, ChainCode: k.chainCode}, all...)
	}
	t.Run("another public key", func(t *testing.T) {
		n.dev["evil"].setTamper(TamperType("DGRound1Message", func(b []byte) [][]byte {
			return [][]byte{EditPayload(t, b, func(m *resharing.DGRound1Message) {
				m.EcdsaPubX, m.EcdsaPubY = g.Gx.Bytes(), g.Gy.Bytes() // a valid point, not the key
			})}
		}))
		// Every new holder knows the key id: both blame evil.
		wantBlames(t, reshare(1), "announced another public key", n.ids("evil"), "honest1", "honest2")
	})
	t.Run("another session id", func(t *testing.T) {
		n.dev["evil"].setTamper(TamperType("DGRound1Message", func(b []byte) [][]byte {
			return [][]byte{EditPayload(t, b, func(m *resharing.DGRound1Message) { m.Ssid = PlusOne(m.Ssid) })}
		}))
		out := reshare(2)
		// honest1 made the session id itself and blames evil; honest2, in
		// the new committee only, cannot tell who lies and blames nobody
		// (or, when honest1 stopped before its own first message left it,
		// waits for it until the relay aborts the session).
		wantBlames(t, out, "another session id", n.ids("evil"), "honest1")
		if f := out["honest2"].failure; f == nil || len(f.GetCulprits()) != 0 ||
			!strings.Contains(f.GetReason(), "different session ids") && f.GetReason() != "aborted by the coordinator" {
			t.Fatalf("honest2 should blame nobody: %s", describe(out))
		}
	})
	n.dev["evil"].setTamper(nil)
	if _, err := loadCurrent(n.dev["honest1"].ks, k.id, 0); err != nil {
		t.Fatalf("honest1 lost its share after the failed reshares: %v", err)
	}
	memSign(t, n, k, 0, "", "honest1", "honest2")
}
