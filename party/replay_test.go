package party_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mpcsign/mpcsign/party"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// replayer is a tamper that records what evil sends each recipient in one
// session, and in the next sends that content again (in a fresh envelope,
// signed for the new session) in place of one message type.
type replayer struct {
	mu     sync.Mutex
	typ    string
	replay bool
	kept   map[string][]byte // recipient -> payload of typ
}

func (r *replayer) tamper(msgType, to string, payload []byte) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !strings.HasSuffix(msgType, "."+r.typ) {
		return [][]byte{payload}
	}
	if old, ok := r.kept[to]; ok && r.replay {
		return [][]byte{old}
	}
	r.kept[to] = payload
	return [][]byte{payload}
}

func (r *replayer) set(typ string, replay bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if typ != r.typ {
		r.kept = map[string][]byte{}
	}
	r.typ, r.replay = typ, replay
}

// Every ECDSA signing message type: the content a member sent in an earlier
// session, sent again in a later one, is refused as such by its recipient
// and blamed on the sender (suspected: the coordinator cannot check the
// recipient's memory). The signature is routed around it at once, by the
// honest pair; nobody is struck (one failed attempt cannot tell the sender
// from the recipient), and above all no honest device.
func TestReplayedContentIsRefused(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := testkit.New(t, testkit.Options{SignTimeout: 30 * time.Second, Metrics: reg})
	evil := c.AddDevice(t, "evil", testkit.FixtureSets(t, 4)[:1])
	c.AddDevice(t, "honest1", testkit.FixtureSets(t, 1)[:1])
	c.AddDevice(t, "honest2", testkit.FixtureSets(t, 2)[:1])
	key := c.CreateKey(t, 1, "evil", "honest1", "honest2") // evil is picked first
	r := &replayer{kept: map[string][]byte{}}
	party.SetTamper(evil.Agent, r.tamper)
	types := []string{"SignRound1Message1", "SignRound1Message2", "SignRound2Message", "SignRound3Message", "SignRound4Message",
		"SignRound5Message", "SignRound6Message", "SignRound7Message", "SignRound8Message", "SignRound9Message"}
	for i, typ := range types {
		t.Run(typ, func(t *testing.T) {
			d := make([]byte, 32)
			d[0], d[1] = byte(i+1), 1
			r.set(typ, false)
			first, err := c.Signer.Sign(context.Background(), &mpcv1.SignRequest{KeyId: key.GetId(), Digest: d})
			if err != nil || !strings.Contains(strings.Join(first.GetSigners(), ","), "evil") {
				t.Fatalf("recording signature: %v, signers %v (want evil among them)", err, first.GetSigners())
			}
			r.set(typ, true)
			d[1] = 2
			again, err := c.Signer.Sign(context.Background(), &mpcv1.SignRequest{KeyId: key.GetId(), Digest: d})
			if err != nil || strings.Contains(strings.Join(again.GetSigners(), ","), "evil") {
				t.Fatalf("signature with a replayed %s: %v, signers %v (want it routed around evil)", typ, err, again.GetSigners())
			}
			recs, err := c.Server.RecentSessions()
			if err != nil {
				t.Fatal(err)
			}
			var failed *struct{ reason, blame string }
			for i := len(recs) - 1; i >= 0; i-- { // newest first
				rec := recs[i]
				if rec.Kind == "sign" && !rec.OK {
					failed = &struct{ reason, blame string }{rec.Reason, rec.Blame}
					if strings.Join(rec.Culprits, ",") != "evil" {
						t.Fatalf("failed session %s blames %v, want evil alone", rec.ID, rec.Culprits)
					}
					break
				}
			}
			if failed == nil || !strings.Contains(failed.reason, "another session") || !strings.Contains(failed.reason, typ) || failed.blame != "suspected" {
				t.Fatalf("newest failed session %+v: want a replay of %s refused, blame suspected", failed, typ)
			}
		})
	}
	for _, v := range []string{"routed", "proven", "accuser-lied"} {
		if got := counterValue(t, reg, "mpc_blame_verdicts_total", map[string]string{"kind": "sign", "verdict": v}); got != 0 {
			t.Fatalf("%v signing blames %s, want none", got, v)
		}
	}
	if got := counterValue(t, reg, "mpc_blame_verdicts_total", map[string]string{"kind": "sign", "verdict": "suspected"}); got != float64(len(types)) {
		t.Fatalf("%v suspected blames, want %d (evil, once per replay)", got, len(types))
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
