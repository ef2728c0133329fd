package party_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mpcsign/mpcsign/internal/preparams"
	"github.com/mpcsign/mpcsign/party"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

func one(b []byte) [][]byte { return [][]byte{b} }

// wantBlamed checks that a call failed as an aborted session blaming evil only.
func wantBlamed(t *testing.T, err error) {
	t.Helper()
	st, _ := status.FromError(err)
	if err == nil || st.Code() != codes.Aborted || !strings.Contains(st.Message(), "blamed: evil") || strings.Contains(st.Message(), "honest") {
		t.Fatalf("want an aborted session blaming evil alone, got %v", err)
	}
}

func TestMaliciousKeygenParty(t *testing.T) {
	evilSet := testkit.FixtureSets(t, 4)[0]
	honestN := testkit.FixtureSets(t, 1)[0].Local().PaillierSK.N.Bytes()
	// which check must catch each case: the guard's text, or tss-lib's own
	// proof checks ("protocol error"), or the session's own checks.
	caughtBy := map[string]string{
		"modulus proof W shares a factor with N": "gcd(W, N) != 1",
		"short VSS commitment vector":            "DeCommitment",
		"bad factor proof":                       "protocol error",
		"bad DLN proof":                          "protocol error",
		"wrong VSS share":                        "protocol error",
		"duplicate Paillier N":                   "modulus (Paillier N or NTilde) that another member uses",
		"equivocating broadcast":                 "two different",
	}
	cases := map[string]func(t *testing.T) func(string, string, []byte) [][]byte{
		"modulus proof W shares a factor with N": func(t *testing.T) func(string, string, []byte) [][]byte {
			p := evilSet.Local().PaillierSK.P.Bytes() // a factor of evil's own Paillier N
			return party.TamperType("KGRound2Message2", func(b []byte) [][]byte {
				return one(party.EditPayload(t, b, func(m *keygen.KGRound2Message2) { m.ModProof[0] = p }))
			})
		},
		"short VSS commitment vector": func(t *testing.T) func(string, string, []byte) [][]byte {
			return party.TamperType("KGRound2Message2", func(b []byte) [][]byte {
				return one(party.EditPayload(t, b, func(m *keygen.KGRound2Message2) { m.DeCommitment = m.DeCommitment[:len(m.DeCommitment)-2] }))
			})
		},
		"bad factor proof": func(t *testing.T) func(string, string, []byte) [][]byte {
			return party.TamperType("KGRound2Message1", func(b []byte) [][]byte {
				return one(party.EditPayload(t, b, func(m *keygen.KGRound2Message1) { m.FacProof[1] = party.PlusOne(m.FacProof[1]) }))
			})
		},
		"bad DLN proof": func(t *testing.T) func(string, string, []byte) [][]byte {
			return party.TamperType("KGRound1Message", func(b []byte) [][]byte {
				return one(party.EditPayload(t, b, func(m *keygen.KGRound1Message) {
					last := len(m.Dlnproof_1) - 1
					m.Dlnproof_1[last] = party.PlusOne(m.Dlnproof_1[last])
				}))
			})
		},
		"wrong VSS share": func(t *testing.T) func(string, string, []byte) [][]byte {
			return party.TamperType("KGRound2Message1", func(b []byte) [][]byte {
				return one(party.EditPayload(t, b, func(m *keygen.KGRound2Message1) { m.Share = party.PlusOne(m.Share) }))
			})
		},
		"duplicate Paillier N": func(t *testing.T) func(string, string, []byte) [][]byte {
			return party.TamperType("KGRound1Message", func(b []byte) [][]byte {
				return one(party.EditPayload(t, b, func(m *keygen.KGRound1Message) { m.PaillierN = honestN }))
			})
		},
		"equivocating broadcast": func(t *testing.T) func(string, string, []byte) [][]byte {
			return party.TamperType("KGRound1Message", func(b []byte) [][]byte {
				return [][]byte{b, party.EditPayload(t, b, func(m *keygen.KGRound1Message) { m.Commitment = party.PlusOne(m.Commitment) })}
			})
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := testkit.New(t, testkit.Options{KeygenTimeout: 2 * time.Minute})
			h1 := c.AddDevice(t, "honest1", testkit.FixtureSets(t, 1)[:1])
			h2 := c.AddDevice(t, "honest2", testkit.FixtureSets(t, 2)[:1])
			evil := c.AddDevice(t, "evil", []*preparams.Set{evilSet})
			party.SetTamper(evil.Agent, mk(t))
			_, err := c.Admin.CreateKey(context.Background(), &mpcv1.CreateKeyRequest{Threshold: 1, Devices: []string{"honest1", "honest2", "evil"}})
			wantBlamed(t, err)
			wantReason(t, c, caughtBy[name])
			for _, h := range []*testkit.Device{h1, h2} {
				if shares, err := h.Agent.Shares(); err != nil || len(shares) != 0 {
					t.Fatalf("%s stored a share of an aborted keygen: %v %v", h.Name, shares, err)
				}
			}
		})
	}
}

// wantReason checks the coordinator's record of the last session: which
// check caught the attack.
func wantReason(t *testing.T, c *testkit.Cluster, want string) {
	t.Helper()
	recs, err := c.Server.RecentSessions()
	if err != nil || len(recs) == 0 {
		t.Fatalf("no session records: %v", err)
	}
	last := recs[len(recs)-1]
	if !strings.Contains(last.Reason, want) {
		t.Fatalf("the session failed for another reason than expected (%q): %s", want, last.Reason)
	}
	if last.OK || len(last.Culprits) != 1 || last.Culprits[0] != "evil" {
		t.Fatalf("the coordinator recorded culprits %v (ok=%v), want [evil]", last.Culprits, last.OK)
	}
}

// TestSplitViewCaughtByEcho: evil sends two broadcasts that tss-lib reads
// alike (the second carries an unknown protobuf field) and a colluding relay
// shows each honest member a different one. Only the echo can see it.
func TestSplitViewCaughtByEcho(t *testing.T) {
	var mu sync.Mutex
	var evilID, h1ID string
	firstSeq := map[string]uint64{}
	relay := func(to string, m *mpcv1.SessionMessage, deliver func(*mpcv1.SessionMessage)) {
		mu.Lock()
		defer mu.Unlock()
		if m.GetFrom() != evilID || !m.GetBroadcast() || !strings.HasSuffix(m.GetType(), "KGRound1Message") {
			deliver(m)
			return
		}
		fs, ok := firstSeq[m.GetType()]
		if !ok {
			fs = m.GetSeq()
			firstSeq[m.GetType()] = fs
		}
		// The first copy goes to honest1 only, the second to honest2 only.
		if (m.GetSeq() == fs) == (to == h1ID) {
			deliver(m)
		}
	}
	c := testkit.New(t, testkit.Options{KeygenTimeout: 2 * time.Minute, Relay: relay})
	h1 := c.AddDevice(t, "honest1", testkit.FixtureSets(t, 1)[:1])
	h2 := c.AddDevice(t, "honest2", testkit.FixtureSets(t, 2)[:1])
	evil := c.AddDevice(t, "evil", testkit.FixtureSets(t, 4)[:1])
	mu.Lock()
	evilID, h1ID = evil.Agent.Config().DeviceID, h1.Agent.Config().DeviceID
	mu.Unlock()
	party.SetTamper(evil.Agent, party.TamperType("KGRound1Message", func(b []byte) [][]byte {
		return [][]byte{b, append(append([]byte{}, b...), 0x78, 0x01)} // field 15 = 1: ignored by the parser
	}))
	_, err := c.Admin.CreateKey(context.Background(), &mpcv1.CreateKeyRequest{Threshold: 1, Devices: []string{"honest1", "honest2", "evil"}})
	wantBlamed(t, err)
	wantReason(t, c, "broadcasts to different members")
	for _, h := range []*testkit.Device{h1, h2} {
		if shares, _ := h.Agent.Shares(); len(shares) != 0 {
			t.Fatalf("%s stored a share despite the split view", h.Name)
		}
	}
}

func TestMaliciousSigner(t *testing.T) {
	c := testkit.New(t, testkit.Options{SignTimeout: 20 * time.Second})
	c.AddDevice(t, "honest", testkit.FixtureSets(t, 1)[:1])
	evil := c.AddDevice(t, "evil", testkit.FixtureSets(t, 2)[:1])
	key := c.CreateKey(t, 1, "honest", "evil")
	sign := func() error {
		d := make([]byte, 32)
		d[0] = 7
		_, err := c.Signer.Sign(context.Background(), &mpcv1.SignRequest{KeyId: key.GetId(), Digest: d})
		return err
	}
	caughtBy := map[string]string{
		"degenerate range proof S = 1":   "S",
		"degenerate range proof S1 = S2": "S1 == S2",
		"bad Bob proof":                  "protocol error",
	}
	cases := map[string]func(string, string, []byte) [][]byte{
		"degenerate range proof S = 1": party.TamperType("SignRound1Message1", func(b []byte) [][]byte {
			return one(party.EditPayload(t, b, func(m *signing.SignRound1Message1) { m.RangeProofAlice[3] = []byte{1} }))
		}),
		"degenerate range proof S1 = S2": party.TamperType("SignRound1Message1", func(b []byte) [][]byte {
			return one(party.EditPayload(t, b, func(m *signing.SignRound1Message1) { m.RangeProofAlice[5] = m.RangeProofAlice[4] }))
		}),
		"bad Bob proof": party.TamperType("SignRound2Message", func(b []byte) [][]byte {
			return one(party.EditPayload(t, b, func(m *signing.SignRound2Message) { m.ProofBob[0] = party.PlusOne(m.ProofBob[0]) }))
		}),
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			party.SetTamper(evil.Agent, f)
			wantBlamed(t, sign())
			wantReason(t, c, caughtBy[name])
			party.SetTamper(evil.Agent, func(_, _ string, p []byte) [][]byte { return [][]byte{p} })
			if err := sign(); err != nil {
				t.Fatalf("honest signing after the attack: %v", err)
			}
		})
	}
}
