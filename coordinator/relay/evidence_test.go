package relay

import (
	"bytes"
	"log/slog"
	"slices"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	eddsasigning "github.com/bnb-chain/tss-lib/v2/eddsa/signing"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/internal/blame"
	"github.com/mpcsign/mpcsign/internal/envelope"
	"github.com/mpcsign/mpcsign/internal/identity"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// judgeKinds are the session kinds whose complaints are judged with
// evidence, each with a message of its protocol (an empty one: the check
// of an envelope's ciphertext comes before any check of its content) and
// whether honest members send it point to point (Ed25519 signing has no
// point-to-point messages; a malicious member sends one all the same).
var judgeKinds = []struct {
	name  string
	kind  mpcv1.SessionKind
	curve mpcv1.Curve
	msg   proto.Message
	p2p   bool
}{
	{"keygen", mpcv1.SessionKind_SESSION_KIND_KEYGEN, mpcv1.Curve_CURVE_SECP256K1, &keygen.KGRound2Message1{}, true},
	{"ecdsa sign", mpcv1.SessionKind_SESSION_KIND_SIGN, mpcv1.Curve_CURVE_SECP256K1, &signing.SignRound1Message1{}, true},
	{"ed25519 sign", mpcv1.SessionKind_SESSION_KIND_SIGN, mpcv1.Curve_CURVE_ED25519, &eddsasigning.SignRound1Message{}, false},
}

// wireOf is a tss-lib message as its library puts it on the wire, with
// the envelope header the devices give it (party.roundOf).
func wireOf(t *testing.T, msg proto.Message) (envelope.Header, []byte) {
	t.Helper()
	a, err := anypb.New(msg)
	if err != nil {
		t.Fatal(err)
	}
	wire, err := proto.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	typ := string(proto.MessageName(msg))
	return envelope.Header{Round: roundInType(typ), Type: typ, Seq: 1}, wire
}

// judgeFixture is a session of three members as the coordinator holds it
// once every member joined (sessionRun.join), with each member's own view
// of it (envelope.Agree).
type judgeFixture struct {
	s      *session
	params envelope.Params
	joins  []envelope.Join
	ids    map[string]*identity.Identity
	agreed map[string]*envelope.Session
}

func newJudgeFixture(t *testing.T, kind mpcv1.SessionKind, curve mpcv1.Curve, names ...string) *judgeFixture {
	t.Helper()
	f := &judgeFixture{ids: map[string]*identity.Identity{}, agreed: map[string]*envelope.Session{}}
	members := map[string]registry.Device{}
	f.params = envelope.Params{Ref: []byte("judge-test-ref"), Kind: uint32(kind), Curve: uint32(curve), KeyID: "key", Threshold: 1, Digest: bytes.Repeat([]byte{7}, 32)}
	for _, n := range names {
		id, err := identity.New()
		if err != nil {
			t.Fatal(err)
		}
		f.ids[n] = id
		members[n] = registry.Device{ID: n, Name: n, IdentityPublicKey: id.PublicKey()}
		f.params.Members = append(f.params.Members, envelope.Member{DeviceID: n, IdentityKey: id.PublicKey()})
	}
	ephs := map[string]*envelope.Ephemeral{}
	own := map[string]envelope.Join{}
	for _, n := range names {
		j, eph, err := envelope.NewJoin(f.ids[n], n, f.params)
		if err != nil {
			t.Fatal(err)
		}
		if !envelope.VerifyJoin(f.ids[n].PublicKey(), f.params, j) {
			t.Fatalf("%s's join does not verify", n)
		}
		f.joins = append(f.joins, j)
		ephs[n], own[n] = eph, j
	}
	for _, n := range names {
		a, err := envelope.Agree(f.params, own[n], ephs[n], f.joins)
		if err != nil {
			t.Fatal(err)
		}
		f.agreed[n] = a
	}
	f.s = &session{ref: f.params.Ref, sid: envelope.ID(f.params, f.joins), kind: kind, members: members, joins: f.joins,
		ed25519: curve == mpcv1.Curve_CURVE_ED25519, threshold: int(f.params.Threshold), log: slog.New(slog.DiscardHandler)}
	return f
}

// relay keeps an envelope the way Sessions.route does: only one of this
// session that its sender signed.
func (f *judgeFixture) relay(t *testing.T, e envelope.Envelope) {
	t.Helper()
	if !bytes.Equal(e.SessionID, f.s.sid) || !envelope.VerifySigned(f.s.members[e.From].IdentityPublicKey, e) {
		t.Fatalf("the relay would refuse %s's %s", e.From, e.Type)
	}
	f.s.keep(e.Proto())
}

// seal is an honest envelope of msg from one member to another, or to
// every member when to is empty.
func (f *judgeFixture) seal(t *testing.T, from, to string, msg proto.Message) envelope.Envelope {
	t.Helper()
	h, wire := wireOf(t, msg)
	h.To, h.Broadcast = to, to == ""
	e, err := f.agreed[from].Seal(f.ids[from], h, wire)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// sealStray is a point-to-point envelope of msg from one member to
// another, of this session and signed by its sender, sealed under a stray
// ephemeral key instead of the one the sender joined with: its recipient
// cannot open it, and neither can anyone with the sender's revealed key.
func (f *judgeFixture) sealStray(t *testing.T, from, to string, msg proto.Message) envelope.Envelope {
	t.Helper()
	stray, eph, err := envelope.NewJoin(f.ids[from], from, f.params)
	if err != nil {
		t.Fatal(err)
	}
	var joins []envelope.Join
	for _, j := range f.joins {
		if j.DeviceID == from {
			j = stray
		}
		joins = append(joins, j)
	}
	a, err := envelope.Agree(f.params, stray, eph, joins)
	if err != nil {
		t.Fatal(err)
	}
	a.ID = f.s.sid // in the genuine session's name
	h, wire := wireOf(t, msg)
	h.To = to
	e, err := a.Seal(f.ids[from], h, wire)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.agreed[to].Open(e); err == nil {
		t.Fatal("the recipient opens an envelope sealed under a stray key")
	}
	return e
}

// to is the recipient of an honest member's message of kind k: the peer
// named, or every member.
func to(p2p bool, peer string) string {
	if p2p {
		return peer
	}
	return ""
}

// complaint is reporter's failure report naming accused, backed by its
// genuine revealed key and signed, as party.backAccusation makes it.
func (f *judgeFixture) complaint(reporter string, accused ...string) *mpcv1.SessionFailure {
	key := f.agreed[reporter].Reveal()
	return &mpcv1.SessionFailure{Ref: f.params.Ref, Reason: "protocol error", Culprits: accused, EvidenceKey: key,
		EvidenceSignature: envelope.SignComplaint(f.ids[reporter], f.s.sid, accused, key)}
}

// A member that sends an honest member a validly signed point-to-point
// envelope that does not open, then accuses it with its genuine evidence,
// is the one at fault (its signature proves it sent the garbage), never
// the honest member it named.
func TestJudgeReporterOwnUndecryptableEnvelope(t *testing.T) {
	for _, k := range judgeKinds {
		t.Run(k.name, func(t *testing.T) {
			f := newJudgeFixture(t, k.kind, k.curve, "honest", "malicious", "other")
			f.relay(t, f.seal(t, "honest", to(k.p2p, "malicious"), k.msg))
			f.relay(t, f.sealStray(t, "malicious", "honest", k.msg))
			f.relay(t, f.seal(t, "malicious", to(k.p2p, "other"), k.msg))
			v := f.s.judge("malicious", f.complaint("malicious", "honest"), f.s.relayedCount())
			if v.blame != BlameAccuserLied || !slices.Equal(v.culprits, []string{"malicious"}) {
				t.Fatalf("verdict %s against %v (%s), want %s against [malicious]", v.blame, v.culprits, v.detail, BlameAccuserLied)
			}
			want := "its own " + string(proto.MessageName(k.msg)) + " to honest does not decrypt under its revealed pair key"
			if v.detail != want {
				t.Errorf("detail %q, want %q", v.detail, want)
			}
		})
	}
}

// The control: an envelope from the accused to the reporter that does not
// open still proves the accused at fault (the reporter's own envelope to
// it opens, so the reporter is not blamed for it).
func TestJudgeAccusedUndecryptableEnvelope(t *testing.T) {
	for _, k := range judgeKinds {
		t.Run(k.name, func(t *testing.T) {
			f := newJudgeFixture(t, k.kind, k.curve, "honest", "malicious", "other")
			f.relay(t, f.seal(t, "honest", to(k.p2p, "malicious"), k.msg))
			f.relay(t, f.seal(t, "other", to(k.p2p, "honest"), k.msg))
			f.relay(t, f.sealStray(t, "malicious", "honest", k.msg))
			v := f.s.judge("honest", f.complaint("honest", "malicious"), f.s.relayedCount())
			if v.blame != BlameProven || !slices.Equal(v.culprits, []string{"malicious"}) {
				t.Fatalf("verdict %s against %v (%s), want %s against [malicious]", v.blame, v.culprits, v.detail, BlameProven)
			}
		})
	}
}

// judgeOne on its own, should judge ever call it with a reporter whose
// envelope does not open: that envelope proves nothing against the accused.
func TestJudgeOneIgnoresReporterUndecryptableEnvelope(t *testing.T) {
	for _, k := range judgeKinds {
		t.Run(k.name, func(t *testing.T) {
			f := newJudgeFixture(t, k.kind, k.curve, "honest", "malicious", "other")
			f.relay(t, f.sealStray(t, "malicious", "honest", k.msg))
			opened, err := envelope.OpenReveal(f.s.sid, "malicious", f.agreed["malicious"].Reveal(), f.s.joins)
			if err != nil {
				t.Fatal(err)
			}
			f.s.mu.Lock()
			relayed := slices.Clone(f.s.relayed)
			f.s.mu.Unlock()
			if v := f.s.judgeOne(relayed, opened, "malicious", "honest"); v.Outcome == blame.Guilty {
				t.Fatalf("judgeOne finds the honest member guilty of the reporter's envelope: %s", v.Reason)
			}
		})
	}
}
