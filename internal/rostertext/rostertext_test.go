package rostertext

import (
	"crypto/ed25519"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
)

type testKey struct{ priv ed25519.PrivateKey }

func newTestKey(label string) testKey {
	seed := sha256.Sum256([]byte("rostertext-test\x00" + label))
	return testKey{ed25519.NewKeyFromSeed(seed[:])}
}

func (k testKey) PublicKey() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }
func (k testKey) Sign(msg []byte) []byte       { return ed25519.Sign(k.priv, msg) }

// TestDescribe: each kind in one line, devices and requesters named from
// the state or "?", and the add_requester line as each Style says it.
func TestDescribe(t *testing.T) {
	op := newTestKey("op")
	now := time.Unix(1_700_000_000, 0)
	g, err := roster.NewGenesis([]roster.Operator{{Name: "alice", Key: op.PublicKey()}}, 1, true, now)
	if err != nil {
		t.Fatal(err)
	}
	g.Sign(op)
	st, err := roster.Open(g)
	if err != nil {
		t.Fatal(err)
	}
	gb, err := roster.DecodeBody(g.Body)
	if err != nil {
		t.Fatal(err)
	}
	rk := newTestKey("wallet").PublicKey()
	req := roster.Requester{ID: roster.RequesterID(roster.AlgEd25519, rk), Name: "wallet", Algorithm: roster.AlgEd25519, PublicKey: rk, Keys: []string{roster.AllKeysGrant}}
	add := st.Next(roster.KindAddRequester, now.Add(time.Minute))
	add.Requester = &req
	raw, err := roster.EncodeBody(add)
	if err != nil {
		t.Fatal(err)
	}
	e := roster.Entry{Body: raw}
	e.Sign(op)
	before := st.Clone()
	if err := st.Apply(e); err != nil {
		t.Fatal(err)
	}
	grants := func(r roster.Requester) string { return "keys " + strings.Join(r.Keys, ", ") }
	plain, marked := Style{Grants: grants}, Style{Grants: grants, MarkReplace: true}
	line := "requester wallet (" + req.ID[:8] + ", ed25519 key " + keyfile.Fingerprint(rk) + "): keys *"
	revoke := roster.Body{Kind: roster.KindRevokeRequester, RequesterID: req.ID, Reason: `"lost"`}
	for _, c := range []struct {
		style Style
		b     roster.Body
		st    *roster.State
		want  string
	}{
		{plain, gb, nil, "operators alice; quorum 1; active devices may approve new ones"},
		{plain, add, before, line},
		{marked, add, before, line},
		{plain, add, st, line},
		{marked, add, st, line + "; replaces its grants"},
		{plain, revoke, st, `requester wallet (` + req.ID[:8] + `); reason: "\"lost\""`},
		{plain, revoke, nil, `requester ? (` + req.ID[:8] + `); reason: "\"lost\""`},
		{plain, roster.Body{Kind: roster.KindRevokeDevice, DeviceID: "0123456789abcdef"}, st, "device ? (01234567)"},
		{plain, roster.Body{Kind: "future_kind"}, nil, "future_kind"},
	} {
		if got := c.style.Describe(c.b, c.st); got != c.want {
			t.Errorf("%s (mark %v): %q, want %q", c.b.Kind, c.style.MarkReplace, got, c.want)
		}
	}
	if got := ShortID("abc"); got != "abc" {
		t.Errorf("ShortID(abc) = %q", got)
	}
}
