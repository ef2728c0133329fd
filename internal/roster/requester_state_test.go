package roster

import (
	"bytes"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestRequesterState(t *testing.T) {
	r := newRBase(t)
	addedWallet := r.st.Height() - 2

	w, ok := r.st.Requester(r.wallet.ID)
	if !ok || !w.Active || w.AddedAt != addedWallet || w.RevokedAt != 0 || !reflect.DeepEqual(w.Requester, r.wallet) {
		t.Fatalf("wallet: %+v %v", w, ok)
	}
	o, ok := r.st.Requester(r.old.ID)
	if !ok || o.Active || o.AddedAt != r.st.Height()-1 || o.RevokedAt != r.st.Height() || !reflect.DeepEqual(o.Requester, r.old) {
		t.Fatalf("old: %+v %v", o, ok)
	}
	if _, ok := r.st.Requester(edRequester("nobody", "", "").ID); ok {
		t.Fatal("an unknown requester was found")
	}
	if _, ok := r.st.Requester(""); ok {
		t.Fatal("the empty id was found")
	}
	if got, ok := r.st.ActiveRequesterByName("wallet"); !ok || got.ID != r.wallet.ID {
		t.Fatalf("ActiveRequesterByName(wallet): %+v %v", got, ok)
	}
	if _, ok := r.st.ActiveRequesterByName("old"); ok {
		t.Fatal("a revoked requester was found by name")
	}
	if _, ok := r.st.ActiveRequesterByName("phone"); ok {
		t.Fatal("a device was found as a requester")
	}
	ids := func() []string {
		var out []string
		for _, q := range r.st.Requesters() {
			out = append(out, q.ID)
		}
		return out
	}
	if got := ids(); !slices.Equal(got, []string{r.wallet.ID, r.old.ID}) {
		t.Fatalf("Requesters: %v", got)
	}

	// Re-adding the active wallet replaces its grants, name and AddedAt,
	// and keeps its place in the order.
	q := r.wallet
	q.Name, q.Keys, q.Paths, q.MaxPerHour = "wallet2", []string{AllKeysGrant}, nil, 0
	r.addRequester(t, q)
	w, ok = r.st.Requester(r.wallet.ID)
	if !ok || !w.Active || w.AddedAt != r.st.Height() || w.RevokedAt != 0 || !reflect.DeepEqual(w.Requester, q) {
		t.Fatalf("re-added wallet: %+v %v", w, ok)
	}
	if !w.AllowsKey("k9") || !w.AllowsPath("") || !w.AllowsPath("m/1") {
		t.Fatalf("the new grants do not apply: %+v", w)
	}
	if _, ok := r.st.ActiveRequesterByName("wallet"); ok {
		t.Fatal("the old name still finds the re-added requester")
	}
	if got, ok := r.st.ActiveRequesterByName("wallet2"); !ok || got.ID != r.wallet.ID {
		t.Fatalf("ActiveRequesterByName(wallet2): %+v %v", got, ok)
	}
	if got := ids(); !slices.Equal(got, []string{r.wallet.ID, r.old.ID}) {
		t.Fatalf("Requesters after the re-add: %v", got)
	}
	// The old name is free for another key.
	other := edRequester("other", "wallet", "k1")
	r.addRequester(t, other)
	if got := ids(); !slices.Equal(got, []string{r.wallet.ID, r.old.ID, other.ID}) {
		t.Fatalf("Requesters after a new one: %v", got)
	}

	// Revoking it.
	r.revokeRequester(t, r.wallet.ID)
	w, _ = r.st.Requester(r.wallet.ID)
	if w.Active || w.RevokedAt != r.st.Height() {
		t.Fatalf("revoked wallet: %+v", w)
	}
	if _, ok := r.st.ActiveRequesterByName("wallet2"); ok {
		t.Fatal("a revoked requester was found by name")
	}
}

func TestRequesterStateIsCopied(t *testing.T) {
	r := newRBase(t)
	want := r.st.Requesters()

	// What the state returns is a copy.
	w, _ := r.st.Requester(r.wallet.ID)
	w.PublicKey[0] ^= 1
	w.Keys[0] = AllKeysGrant
	w.Paths[0] = "m"
	w.Active = false
	all := r.st.Requesters()
	all[0].Keys[1] = "k9"
	all[0].PublicKey[1] ^= 1
	byName, _ := r.st.ActiveRequesterByName("wallet")
	byName.Paths[0] = "m/1"
	if got := r.st.Requesters(); !reflect.DeepEqual(got, want) {
		t.Fatalf("the state changed through a returned value:\n%+v\nwant\n%+v", got, want)
	}

	// What the state was given is copied.
	q := edRequester("new", "exchange", "k1", "k2")
	q.Paths = []string{"m/44/60"}
	r.addRequester(t, q)
	q.Keys[0], q.Paths[0], q.PublicKey[0] = "k9", "m/1", q.PublicKey[0]^1
	got, _ := r.st.Requester(edRequester("new", "", "").ID)
	if got.Keys[0] != "k1" || got.Paths[0] != "m/44/60" || !bytes.Equal(got.PublicKey, edRequester("new", "", "").PublicKey) {
		t.Fatalf("the state changed through the applied body: %+v", got)
	}
	want = r.st.Requesters()

	// A clone is independent both ways.
	c := r.st.Clone()
	cw := r.wallet
	cw.Keys = []string{AllKeysGrant}
	b := c.Next(KindAddRequester, r.now.Add(time.Minute))
	b.Requester = &cw
	if err := c.Apply(entry(t, b, r.ops[0], r.ops[1])); err != nil {
		t.Fatal(err)
	}
	b = c.Next(KindRevokeRequester, r.now.Add(2*time.Minute))
	b.RequesterID = q.ID
	if err := c.Apply(entry(t, b, r.ops[0], r.ops[1])); err != nil {
		t.Fatal(err)
	}
	b = c.Next(KindAddRequester, r.now.Add(3*time.Minute))
	third := edRequester("third", "third", "k1")
	b.Requester = &third
	if err := c.Apply(entry(t, b, r.ops[0], r.ops[1])); err != nil {
		t.Fatal(err)
	}
	if got := r.st.Requesters(); !reflect.DeepEqual(got, want) {
		t.Fatalf("the original changed with its clone:\n%+v\nwant\n%+v", got, want)
	}
	if got, _ := c.Requester(r.wallet.ID); !got.AllowsKey("k9") {
		t.Fatalf("the clone did not change: %+v", got)
	}
	if got, _ := c.Requester(q.ID); got.Active {
		t.Fatal("the clone did not revoke")
	}
	if len(c.Requesters()) != len(want)+1 {
		t.Fatalf("the clone has %d requesters", len(c.Requesters()))
	}
	// And the other way: the original moves on, the clone stays.
	cwant := c.Requesters()
	r.revokeRequester(t, r.wallet.ID)
	if got := c.Requesters(); !reflect.DeepEqual(got, cwant) {
		t.Fatal("the clone changed with its original")
	}
}

func TestRequesterAllows(t *testing.T) {
	keys := []struct {
		keys []string
		key  string
		want bool
	}{
		{[]string{"k1", "k2"}, "k1", true},
		{[]string{"k1", "k2"}, "k2", true},
		{[]string{"k1", "k2"}, "k3", false},
		{[]string{"k1", "k2"}, "K1", false},
		{[]string{"k1", "k2"}, "", false},
		{[]string{"k1", "k2"}, AllKeysGrant, false},
		{[]string{AllKeysGrant}, "k1", true},
		{[]string{AllKeysGrant}, "anything", true},
		{nil, "k1", false},
	}
	for _, tc := range keys {
		if got := (Requester{Keys: tc.keys}).AllowsKey(tc.key); got != tc.want {
			t.Errorf("keys %q: AllowsKey(%q) = %v, want %v", tc.keys, tc.key, got, tc.want)
		}
	}
	paths := []struct {
		paths []string
		path  string
		want  bool
	}{
		{[]string{"m/44/60"}, "m/44/60", true},
		{[]string{"m/44/60"}, "m/44/60/0", true},
		{[]string{"m/44/60"}, "m/44/60/0/0/7", true},
		{[]string{"m/44/60"}, "m/44/600", false},
		{[]string{"m/44/60"}, "m/44/6", false},
		{[]string{"m/44/60"}, "m/44", false},
		{[]string{"m/44/60"}, "m/45/60", false},
		{[]string{"m/44/60"}, "m/1/44/60", false},
		{[]string{"m/44/60"}, "", false},
		{[]string{"m/44/60"}, "m", false},
		{[]string{"m/44/60", "m/44/0"}, "m/44/0/1", true},
		{[]string{"m/44/60", "m/44/0"}, "m/44/1", false},
		{[]string{"m"}, "", true},
		{[]string{"m"}, "m", true},
		{[]string{"m"}, "m/0", true},
		{[]string{"m"}, "m/44/60/0/0/7", true},
		{[]string{"m/0"}, "m/0/1", true},
		{[]string{"m/0"}, "m/00", false},
		{nil, "", true},
		{nil, "m/44/60/0", true},
		{[]string{}, "", true},
	}
	for _, tc := range paths {
		if got := (Requester{Paths: tc.paths}).AllowsPath(tc.path); got != tc.want {
			t.Errorf("paths %q: AllowsPath(%q) = %v, want %v", tc.paths, tc.path, got, tc.want)
		}
	}
}

// TestRequesterID pins the id derivation the package documents.
