package party

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"

	"github.com/mpcsign/mpcsign/keystore"
)

func TestShareRecords(t *testing.T) {
	ks := openStore(t, t.TempDir())
	defer ks.Close()
	data := keygen.NewLocalPartySaveData(3)
	data.Xi = big.NewInt(0).SetBytes([]byte("a secret share value!"))
	meta := ShareMeta{KeyID: "k1", Epoch: 0, State: ShareCommitted, Threshold: 1, PublicKey: []byte{2, 3}, Holders: []string{"a", "b", "c"}}
	if err := saveShare(ks, shareRecord{Meta: meta, Data: data}); err != nil {
		t.Fatal(err)
	}
	pending := meta
	pending.Epoch, pending.State = 1, SharePending
	if err := saveShare(ks, shareRecord{Meta: pending, Data: data}); err != nil {
		t.Fatal(err)
	}

	s, err := LoadShare(ks, "k1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Meta.Threshold != 1 || len(s.Meta.Holders) != 3 {
		t.Fatalf("meta %+v", s.Meta)
	}
	if _, err := LoadShare(ks, "k1", 1); !errors.Is(err, ErrNoShare) {
		t.Fatalf("a pending share must not sign: %v", err)
	}
	if _, err := LoadShare(ks, "k2", 0); !errors.Is(err, ErrNoShare) {
		t.Fatalf("unknown key: %v", err)
	}

	// SaveData is a deep copy: changing it leaves the stored share alone.
	cp, err := s.SaveData()
	if err != nil {
		t.Fatal(err)
	}
	cp.Xi.SetInt64(0)
	again, _ := s.SaveData()
	if again.Xi.Cmp(data.Xi) != 0 {
		t.Fatal("changing a copy changed the share")
	}

	text := fmt.Sprintf("%v %+v %s", s, s, s)
	if strings.Contains(text, data.Xi.String()) || !strings.Contains(text, "REDACTED") {
		t.Fatalf("share printed as %q", text)
	}

	metas, err := ListShares(ks)
	if err != nil || len(metas) != 2 {
		t.Fatalf("ListShares: %v %v", metas, err)
	}
}

// applyKeyState is the device's half of a reshare's commit: each case is a
// state a crash or a missed message can leave behind.
func TestApplyKeyState(t *testing.T) {
	data := keygen.NewLocalPartySaveData(2)
	data.Xi = big.NewInt(7)
	setup := func(t *testing.T, records ...string) *keystore.Store {
		ks := openStore(t, t.TempDir())
		t.Cleanup(func() { ks.Close() })
		for _, r := range records {
			var e uint64
			var st string
			fmt.Sscanf(r, "%d:%s", &e, &st)
			m := ShareMeta{KeyID: "k1", Epoch: e, State: ShareState(st), Threshold: 1, Holders: []string{"a", "b"}}
			if err := saveShare(ks, shareRecord{Meta: m, Data: data}); err != nil {
				t.Fatal(err)
			}
		}
		// Another key's shares are never touched.
		if err := saveShare(ks, shareRecord{Meta: ShareMeta{KeyID: "k2", Epoch: 0, State: ShareCommitted, Threshold: 1}, Data: data}); err != nil {
			t.Fatal(err)
		}
		return ks
	}
	state := func(t *testing.T, ks *keystore.Store) []string {
		metas, err := ListShares(ks)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range metas {
			out = append(out, fmt.Sprintf("%s/%d:%s", m.KeyID, m.Epoch, m.State))
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		records []string
		st      KeyState
		want    []string
	}{
		{"new holder promotes, old epoch erased", []string{"0:committed", "1:pending"}, KeyState{KeyID: "k1", Committed: 1, Next: 2},
			[]string{"k1/1:committed", "k2/0:committed"}},
		{"old-only holder erases", []string{"0:committed"}, KeyState{KeyID: "k1", Committed: 1, Next: 2},
			[]string{"k2/0:committed"}},
		{"abandoned attempt dropped, old epoch kept", []string{"0:committed", "1:pending"}, KeyState{KeyID: "k1", Committed: 0, Next: 2},
			[]string{"k1/0:committed", "k2/0:committed"}},
		{"running attempt kept", []string{"0:committed", "1:pending"}, KeyState{KeyID: "k1", Committed: 0, Next: 2, InFlight: 1},
			[]string{"k1/0:committed", "k1/1:pending", "k2/0:committed"}},
		{"stale state (before the attempt) keeps the pending share", []string{"0:committed", "1:pending"}, KeyState{KeyID: "k1", Committed: 0, Next: 1},
			[]string{"k1/0:committed", "k1/1:pending", "k2/0:committed"}},
		{"stale state after a newer commit changes nothing", []string{"2:committed"}, KeyState{KeyID: "k1", Committed: 1, Next: 2},
			[]string{"k1/2:committed", "k2/0:committed"}},
		{"missed two reshares", []string{"0:committed", "3:pending"}, KeyState{KeyID: "k1", Committed: 3, Next: 4},
			[]string{"k1/3:committed", "k2/0:committed"}},
		{"unknown key", []string{"0:committed"}, KeyState{KeyID: "k9", Committed: 5, Next: 6},
			[]string{"k1/0:committed", "k2/0:committed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks := setup(t, tc.records...)
			if _, err := applyKeyState(ks, tc.st); err != nil {
				t.Fatal(err)
			}
			if got := state(t, ks); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			// Applying it again changes nothing.
			res, err := applyKeyState(ks, tc.st)
			if err != nil || len(res.Promoted)+len(res.Erased)+len(res.Dropped) != 0 {
				t.Fatalf("second apply: %+v %v", res, err)
			}
		})
	}

	// After a commit, the retired epoch is refused even if its record survived.
	ks := setup(t, "0:committed", "1:committed")
	if _, err := loadCurrent(ks, "k1", 0); !errors.Is(err, ErrRetiredEpoch) {
		t.Fatalf("epoch 0 after epoch 1 committed: %v", err)
	}
	if _, err := loadCurrent(ks, "k1", 1); err != nil {
		t.Fatalf("epoch 1: %v", err)
	}
}

// dropPendingShare undoes the pending write of a session stopped meanwhile:
// it deletes a pending record and leaves a committed one (or none) alone.
func TestDropPendingShare(t *testing.T) {
	ks := openStore(t, t.TempDir())
	defer ks.Close()
	data := keygen.NewLocalPartySaveData(3)
	committed := ShareMeta{KeyID: "k1", Epoch: 0, State: ShareCommitted, Threshold: 1}
	pending := ShareMeta{KeyID: "k1", Epoch: 1, State: SharePending, Threshold: 1}
	for _, m := range []ShareMeta{committed, pending} {
		if err := saveShare(ks, shareRecord{Meta: m, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []uint64{0, 1, 2} {
		if err := dropPendingShare(ks, "k1", e); err != nil {
			t.Fatalf("drop epoch %d: %v", e, err)
		}
	}
	metas, err := ListShares(ks)
	if err != nil {
		t.Fatal(err)
	}
	if len(metas) != 1 || metas[0].Epoch != 0 || metas[0].State != ShareCommitted {
		t.Fatalf("after dropping: %+v, want only the committed epoch 0", metas)
	}
}
