package party_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/resharing"
	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/mpcsign/mpcsign/party"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// In a reshare, tss-lib v2.0.2 reads the key's public key and the session id
// from one old member's first message and blames everyone who disagrees: a
// lying old member would get the honest ones blamed (even by themselves).
// The runner checks both claims itself and blames the liar.
func TestMaliciousReshareParty(t *testing.T) {
	c := testkit.New(t, testkit.Options{KeygenTimeout: 3 * time.Minute})
	evil := c.AddDevice(t, "evil", testkit.FixtureSets(t, 4))
	c.AddDevice(t, "honest1", testkit.FixtureSets(t, 1))
	c.AddDevice(t, "honest2", testkit.FixtureSets(t, 2))
	// evil is listed first, so it is in the old committee of every drill.
	key := c.CreateKey(t, 1, "evil", "honest1", "honest2")
	g := tss.S256().Params()

	for name, tc := range map[string]struct {
		tamper func(*testing.T) func(string, string, []byte) [][]byte
		reason string
	}{
		"another public key": {func(t *testing.T) func(string, string, []byte) [][]byte {
			return party.TamperType("DGRound1Message", func(b []byte) [][]byte {
				return one(party.EditPayload(t, b, func(m *resharing.DGRound1Message) {
					m.EcdsaPubX, m.EcdsaPubY = g.Gx.Bytes(), g.Gy.Bytes() // a valid point, not the key
				}))
			})
		}, "another public key"},
		"another session id": {func(t *testing.T) func(string, string, []byte) [][]byte {
			return party.TamperType("DGRound1Message", func(b []byte) [][]byte {
				return one(party.EditPayload(t, b, func(m *resharing.DGRound1Message) { m.Ssid = party.PlusOne(m.Ssid) }))
			})
		}, "another session id"},
	} {
		t.Run(name, func(t *testing.T) {
			party.SetTamper(evil.Agent, tc.tamper(t))
			resp, err := c.Admin.DrillKey(context.Background(), &mpcv1.DrillKeyRequest{KeyId: key.GetId()})
			if err != nil {
				t.Fatal(err)
			}
			rep := resp.GetReport()
			if rep.GetOk() || rep.GetCommitted() || resp.GetKey().GetEpoch() != 0 {
				t.Fatalf("a tampered drill reported %+v", rep)
			}
			if !strings.Contains(rep.GetError(), "blamed: evil") || strings.Contains(rep.GetError(), "honest") {
				t.Fatalf("want evil alone blamed, got %q", rep.GetError())
			}
			wantReason(t, c, tc.reason)
		})
	}
}
