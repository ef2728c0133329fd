package envelope

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/mpcsign/mpcsign/internal/identity"
)

type member struct {
	id   *identity.Identity
	dev  string
	join Join
	eph  *Ephemeral
	s    *Session
}

// setup runs the join protocol for n members and returns their sessions.
func setup(t *testing.T, n int) (Params, []*member) {
	t.Helper()
	return setupWith(t, n, Params{Ref: []byte("ref"), Kind: 2, KeyID: "k1", Threshold: 1, Digest: bytes.Repeat([]byte{9}, 32)})
}

// setupWith is setup for the given parameters (members are added to them).
func setupWith(t *testing.T, n int, p Params) (Params, []*member) {
	t.Helper()
	var ms []*member
	for i := 0; i < n; i++ {
		id, err := identity.New()
		if err != nil {
			t.Fatal(err)
		}
		m := &member{id: id, dev: identity.DeviceID(id.PublicKey())}
		ms = append(ms, m)
		p.Members = append(p.Members, Member{DeviceID: m.dev, IdentityKey: id.PublicKey()})
	}
	var joins []Join
	for _, m := range ms {
		j, eph, err := NewJoin(m.id, m.dev, p)
		if err != nil {
			t.Fatal(err)
		}
		m.join, m.eph = j, eph
		joins = append(joins, j)
	}
	for _, m := range ms {
		s, err := Agree(p, m.join, m.eph, joins)
		if err != nil {
			t.Fatal(err)
		}
		m.s = s
	}
	return p, ms
}

func TestAgreeGivesEveryoneTheSameFreshID(t *testing.T) {
	_, ms := setup(t, 3)
	for _, m := range ms[1:] {
		if !bytes.Equal(m.s.ID, ms[0].s.ID) {
			t.Fatal("members disagree on the session id")
		}
	}
	_, again := setup(t, 3)
	if bytes.Equal(again[0].s.ID, ms[0].s.ID) {
		t.Fatal("two sessions got the same id")
	}
}

func TestAgreeRejects(t *testing.T) {
	p, ms := setup(t, 3)
	joins := func() []Join {
		var js []Join
		for _, m := range ms {
			js = append(js, m.join)
		}
		return js
	}
	otherParams := p
	otherParams.Digest = bytes.Repeat([]byte{8}, 32)
	cases := map[string]struct {
		params Params
		mutate func([]Join) []Join
		blame  string
	}{
		"missing join":     {p, func(js []Join) []Join { return js[:2] }, ""},
		"duplicate join":   {p, func(js []Join) []Join { return append(js, js[1]) }, ms[1].dev},
		"forged signature": {p, func(js []Join) []Join { js[2].Signature = bytes.Repeat([]byte{1}, 64); return js }, ms[2].dev},
		"swapped contribution": {p, func(js []Join) []Join {
			js[1].Contribution = bytes.Repeat([]byte{7}, 32)
			return js
		}, ms[1].dev},
		"own join altered": {p, func(js []Join) []Join { js[0].EphemeralKey = js[1].EphemeralKey; return js }, ms[0].dev},
		// A coordinator that shows one member other parameters cannot reuse the others' joins.
		"different params": {otherParams, func(js []Join) []Join { return js }, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Agree(tc.params, ms[0].join, ms[0].eph, tc.mutate(joins()))
			if err == nil {
				t.Fatal("accepted")
			}
			var b *Blame
			if tc.blame != "" && name != "own join altered" && (!errors.As(err, &b) || b.Device != tc.blame) {
				t.Fatalf("want blame on %s, got %v", tc.blame, err)
			}
		})
	}

	// The Ed25519 message, the derivation path and the chain code are
	// session parameters too: joins made for one value of any of them are
	// refused for another (or for none), like joins made for another digest.
	// Each field is tried alone (as an Ed25519 signature, a derived
	// signature and a reshare use them) and all together.
	msg, path, cc := []byte("pay 1"), "m/44/60/0/0/7", bytes.Repeat([]byte{3}, 32)
	changes := map[string]func(*Params){
		"message":            func(q *Params) { q.Message = []byte("pay 2") },
		"message dropped":    func(q *Params) { q.Message = nil },
		"message added":      func(q *Params) { q.Message = []byte("pay 3") },
		"path":               func(q *Params) { q.DerivationPath = "m/44/60/0/0/8" },
		"path dropped":       func(q *Params) { q.DerivationPath = "" },
		"path added":         func(q *Params) { q.DerivationPath = "m/1" },
		"chain code":         func(q *Params) { q.ChainCode = bytes.Repeat([]byte{4}, 32) },
		"chain code dropped": func(q *Params) { q.ChainCode = nil },
		"chain code added":   func(q *Params) { q.ChainCode = bytes.Repeat([]byte{5}, 32) },
	}
	for _, b := range []struct {
		name string
		p    Params
	}{
		{"ed25519 sign", Params{Message: msg}},
		{"derived sign", Params{Digest: bytes.Repeat([]byte{9}, 32), DerivationPath: path}},
		{"reshare", Params{ChainCode: cc}},
		{"all three", Params{Message: msg, DerivationPath: path, ChainCode: cc}},
	} {
		base := b.p
		base.Ref, base.Kind, base.KeyID, base.Threshold = []byte("ref-"+b.name), 2, "k1", 1
		hp, hms := setupWith(t, 3, base) // fails unless these parameters are accepted
		var hjoins []Join
		for _, m := range hms {
			hjoins = append(hjoins, m.join)
		}
		for name, change := range changes {
			q := hp
			change(&q)
			if bytes.Equal(q.Message, hp.Message) && q.DerivationPath == hp.DerivationPath && bytes.Equal(q.ChainCode, hp.ChainCode) {
				continue // e.g. dropping a field the base does not set
			}
			t.Run(b.name+"/different "+name, func(t *testing.T) {
				if _, err := Agree(q, hms[0].join, hms[0].eph, hjoins); err == nil {
					t.Fatal("joins made for other parameters accepted")
				}
			})
		}
	}
}

func TestSealOpen(t *testing.T) {
	_, ms := setup(t, 3)
	a, b, c := ms[0], ms[1], ms[2]
	secret := []byte("round 2 share for b")
	env, err := a.s.Seal(a.id, Header{To: b.dev, Round: 2, Type: "KGRound2Message1", Seq: 1}, secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(env.Payload, secret) {
		t.Fatal("point-to-point payload travels in clear")
	}
	got, err := b.s.Open(env)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("recipient cannot open: %v", err)
	}
	if _, err := c.s.Open(env); err == nil {
		t.Fatal("a third member opened a message not addressed to it")
	}
	// Another member pretending to be the recipient cannot decrypt either.
	redirected := env
	redirected.To = c.dev
	if _, err := c.s.Open(redirected); err == nil {
		t.Fatal("re-addressed envelope opened")
	}

	bc, err := a.s.Seal(a.id, Header{Broadcast: true, Round: 1, Type: "KGRound1Message", Seq: 2}, []byte("commitment"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*member{b, c} {
		if got, err := m.s.Open(bc); err != nil || string(got) != "commitment" {
			t.Fatalf("broadcast: %v", err)
		}
	}

	tamper := map[string]func(Envelope) Envelope{
		"from":      func(e Envelope) Envelope { e.From = c.dev; return e },
		"to":        func(e Envelope) Envelope { e.To = c.dev; return e },
		"broadcast": func(e Envelope) Envelope { e.Broadcast, e.To = true, ""; return e },
		"round":     func(e Envelope) Envelope { e.Round = 3; return e },
		"type":      func(e Envelope) Envelope { e.Type = "KGRound3Message"; return e },
		"seq":       func(e Envelope) Envelope { e.Seq = 9; return e },
		"payload":   func(e Envelope) Envelope { e.Payload = append([]byte{}, e.Payload...); e.Payload[30] ^= 1; return e },
		"session":   func(e Envelope) Envelope { e.SessionID = bytes.Repeat([]byte{1}, 32); return e },
		"signature": func(e Envelope) Envelope {
			e.Signature = append([]byte{}, e.Signature...)
			e.Signature[0] ^= 1
			return e
		},
	}
	for name, f := range tamper {
		t.Run("tampered "+name, func(t *testing.T) {
			if _, err := b.s.Open(f(env)); err == nil {
				t.Fatal("tampered envelope opened")
			}
		})
	}
}

func TestTrackerAndEcho(t *testing.T) {
	_, ms := setup(t, 3)
	a, b, c := ms[0], ms[1], ms[2]
	trackers := map[string]*Tracker{a.dev: NewTracker(), b.dev: NewTracker(), c.dev: NewTracker()}
	broadcast := func(from *member, typ string, payloadFor func(to *member) []byte) {
		for _, m := range ms {
			env, err := from.s.Seal(from.id, Header{Broadcast: true, Round: 1, Type: typ, Seq: 1}, payloadFor(m))
			if err != nil {
				t.Fatal(err)
			}
			if err := trackers[m.dev].Observe(env); err != nil {
				t.Fatal(err)
			}
		}
	}
	same := func(*member) []byte { return []byte("same") }
	broadcast(a, "R1", same)
	broadcast(b, "R1", same)
	// c equivocates: b sees something other than what a and c see.
	broadcast(c, "R1", func(to *member) []byte {
		if to == b {
			return []byte("other")
		}
		return []byte("same")
	})

	echo := func(m *member) []byte {
		p, err := trackers[m.dev].EchoPayload()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if err := a.s.CheckEcho(trackers[a.dev], c.dev, echo(c)); err != nil {
		t.Fatalf("a and c saw the same: %v", err)
	}
	err := a.s.CheckEcho(trackers[a.dev], b.dev, echo(b))
	var blame *Blame
	if !errors.As(err, &blame) || blame.Device != c.dev {
		t.Fatalf("want c blamed for a split view, got %v", err)
	}

	// An echoer that invents a broadcast is blamed itself.
	forged := bytes.Replace(echo(c), []byte(`"signature":"`), []byte(`"signature":"AAAA`), 1)
	if err := a.s.CheckEcho(trackers[a.dev], c.dev, forged); !errors.As(err, &blame) || blame.Device != c.dev {
		t.Fatalf("forged echo: %v", err)
	}
	if err := a.s.CheckEcho(trackers[a.dev], c.dev, []byte("not json")); !errors.As(err, &blame) || blame.Device != c.dev {
		t.Fatalf("malformed echo: %v", err)
	}

	// First write wins: an identical repeat is a duplicate, a different one is equivocation.
	env, _ := a.s.Seal(a.id, Header{Broadcast: true, Round: 2, Type: "R2", Seq: 5}, []byte("x"))
	tr := NewTracker()
	if err := tr.Observe(env); err != nil {
		t.Fatal(err)
	}
	if err := tr.Observe(env); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("repeat: %v", err)
	}
	env2, _ := a.s.Seal(a.id, Header{Broadcast: true, Round: 2, Type: "R2", Seq: 6}, []byte("y"))
	if err := tr.Observe(env2); !errors.As(err, &blame) || blame.Device != a.dev {
		t.Fatalf("equivocation: %v", err)
	}
}

func TestRedaction(t *testing.T) {
	_, ms := setup(t, 2)
	if s := fmt.Sprintf("%v %+v %s", ms[0].eph, ms[0].eph, ms[0].eph); !bytes.Contains([]byte(s), []byte("REDACTED")) {
		t.Fatalf("ephemeral key printed as %q", s)
	}
}

func FuzzCheckEcho(f *testing.F) {
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"from":"x","type":"t","payload_hash":"AAAA","signature":"AAAA"}]`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		id, _ := identity.New()
		dev := identity.DeviceID(id.PublicKey())
		p := Params{Ref: []byte("r"), Members: []Member{{DeviceID: dev, IdentityKey: id.PublicKey()}}}
		j, eph, _ := NewJoin(id, dev, p)
		s, err := Agree(p, j, eph, []Join{j})
		if err != nil {
			t.Fatal(err)
		}
		_ = s.CheckEcho(NewTracker(), "someone", payload) // must not panic
	})
}
