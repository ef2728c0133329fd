package party

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
)

func TestShareRecords(t *testing.T) {
	ks := openStore(t, t.TempDir())
	defer ks.Close()
	data := keygen.NewLocalPartySaveData(3)
	data.Xi = big.NewInt(0).SetBytes([]byte("a secret share value!"))
	meta := ShareMeta{KeyID: "k1", Epoch: 0, State: ShareCommitted, Threshold: 1, PublicKey: []byte{2, 3}, Holders: []string{"a", "b", "c"}}
	if err := saveShare(ks, meta, data); err != nil {
		t.Fatal(err)
	}
	pending := meta
	pending.Epoch, pending.State = 1, SharePending
	if err := saveShare(ks, pending, data); err != nil {
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
