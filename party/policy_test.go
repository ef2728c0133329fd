package party

import (
	"errors"
	"testing"
)

func TestPolicyRecords(t *testing.T) {
	ks := openStore(t, t.TempDir())
	defer ks.Close()
	if p, err := PolicyFor(ks, "k1"); err != nil || p.Mode != PolicyAuto {
		t.Fatalf("no policy stored: %+v %v (want auto)", p, err)
	}
	if err := SetPolicy(ks, AllKeys, Policy{Mode: PolicyPrompt}); err != nil {
		t.Fatal(err)
	}
	if err := SetPolicy(ks, "k1", Policy{Mode: PolicyDeny}); err != nil {
		t.Fatal(err)
	}
	if p, _ := PolicyFor(ks, "k1"); p.Mode != PolicyDeny {
		t.Fatalf("a key's own policy must win: %+v", p)
	}
	if p, _ := PolicyFor(ks, "k2"); p.Mode != PolicyPrompt {
		t.Fatalf("the default policy applies to other keys: %+v", p)
	}
	for _, bad := range []Policy{{Mode: "maybe"}, {Mode: PolicyAuto, MaxPerHour: -1}} {
		if err := SetPolicy(ks, "k3", bad); !errors.Is(err, ErrBadPolicy) {
			t.Fatalf("accepted %+v: %v", bad, err)
		}
	}
}
