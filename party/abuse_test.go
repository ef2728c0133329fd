package party_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	edsigning "github.com/bnb-chain/tss-lib/v2/eddsa/signing"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mpcsign/mpcsign/party"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// A device blamed for three signing aborts of a key in a row is paused for
// that key: signatures stop paying for a failed attempt with it first.
func TestRepeatedlyBlamedSignerIsPaused(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := testkit.New(t, testkit.Options{SignTimeout: 30 * time.Second, Metrics: reg})
	evil := c.AddDevice(t, "evil", testkit.FixtureSets(t, 4)[:1])
	c.AddDevice(t, "honest1", testkit.FixtureSets(t, 1)[:1])
	c.AddDevice(t, "honest2", testkit.FixtureSets(t, 2)[:1])
	// evil is listed first, so it is picked first while it is not paused.
	key := c.CreateKey(t, 1, "evil", "honest1", "honest2")
	party.SetTamper(evil.Agent, party.TamperType("SignRound2Message", func(b []byte) [][]byte {
		return one(party.EditPayload(t, b, func(m *signing.SignRound2Message) { m.ProofBob[0] = party.PlusOne(m.ProofBob[0]) }))
	}))
	aborted := func() int {
		recs, err := c.Server.RecentSessions()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range recs {
			if r.Kind == "sign" && !r.OK {
				n++
			}
		}
		return n
	}
	for i := 0; i < 4; i++ {
		d := make([]byte, 32)
		d[0] = byte(i + 1)
		before := aborted()
		r, err := c.Signer.Sign(context.Background(), &mpcv1.SignRequest{KeyId: key.GetId(), Digest: d})
		if err != nil {
			t.Fatalf("sign %d: %v", i, err)
		}
		if strings.Contains(strings.Join(r.GetSigners(), ","), "evil") {
			t.Fatalf("sign %d signed by %v", i, r.GetSigners())
		}
		// Three signatures pay for a failed attempt with evil; the fourth
		// does not, because evil is paused.
		if got, want := aborted()-before, map[bool]int{true: 1, false: 0}[i < 3]; got != want {
			t.Fatalf("sign %d: %d aborted attempts, want %d", i, got, want)
		}
	}
	resp, err := c.Admin.ExportAudit(context.Background(), &mpcv1.ExportAuditRequest{})
	if err != nil {
		t.Fatal(err)
	}
	paused := 0
	for _, e := range resp.GetEntries() {
		if strings.Contains(string(e), `"device.pause"`) && strings.Contains(string(e), "evil") {
			paused++
		}
	}
	if paused != 1 {
		t.Fatalf("%d device.pause audit entries for evil, want 1", paused)
	}
	// ... and exported as a metric.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var series []string
	for _, mf := range mfs {
		if mf.GetName() != "mpc_device_pauses_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			series = append(series, fmt.Sprintf("%s %v", strings.Join(labels, ","), m.GetCounter().GetValue()))
		}
	}
	if len(series) != 1 || series[0] != "device=evil 1" {
		t.Fatalf("mpc_device_pauses_total series %q, want device=evil 1", series)
	}
}

// An Ed25519 signer whose round-2 proof is wrong is blamed by its honest
// partner with evidence; the coordinator's judge checks it against the
// key's public data, every holder reported alike at keygen: proven. The
// signature goes to the honest pair at once.
func TestEd25519SignerProvenAtFault(t *testing.T) {
	c := testkit.New(t, testkit.Options{SignTimeout: 30 * time.Second})
	evil := c.AddDevice(t, "evil", nil)
	c.AddDevice(t, "honest1", nil)
	c.AddDevice(t, "honest2", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kr, err := c.Admin.CreateKey(ctx, &mpcv1.CreateKeyRequest{Curve: mpcv1.Curve_CURVE_ED25519, Threshold: 1, Devices: []string{"evil", "honest1", "honest2"}})
	if err != nil {
		t.Fatal(err)
	}
	party.SetTamper(evil.Agent, party.TamperType("SignRound2Message", func(b []byte) [][]byte {
		return one(party.EditPayload(t, b, func(m *edsigning.SignRound2Message) { m.ProofT = party.PlusOne(m.ProofT) }))
	}))
	r, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: kr.GetKey().GetId(), Message: []byte("ed25519: proven at fault")})
	if err != nil || strings.Contains(strings.Join(r.GetSigners(), ","), "evil") {
		t.Fatalf("sign: %v, signers %v (want the honest pair)", err, r.GetSigners())
	}
	recs, err := c.Server.RecentSessions()
	if err != nil {
		t.Fatal(err)
	}
	for i := len(recs) - 1; i >= 0; i-- {
		if rec := recs[i]; rec.Kind == "sign" && !rec.OK {
			if strings.Join(rec.Culprits, ",") != "evil" || rec.Blame != "proven" || !strings.Contains(rec.Reason, "evidence checked") {
				t.Fatalf("failed attempt %+v: want evil proven at fault, evidence checked", rec)
			}
			return
		}
	}
	t.Fatal("no failed signing attempt recorded")
}
