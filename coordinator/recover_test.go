package coordinator

import (
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
)

// TestRecoverResharesAtStart: a coordinator starting on a store where the
// last run left reshares in flight abandons each of them (the attempt
// cleared, its epoch number not reused, a failed audit entry by the
// recovery) and leaves the other keys as they were.
func TestRecoverResharesAtStart(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenBadgerStore(filepath.Join(dir, "store"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	holders := []string{"d1", "d2", "d3"}
	for _, k := range []Key{
		{ID: "k1", Curve: curveSecp256k1, Threshold: 1, Holders: holders, InFlight: &InFlightReshare{Epoch: 2, Kind: KindDrill, Holders: holders}, NextEpoch: 3},
		{ID: "k2", Curve: curveSecp256k1, Threshold: 1, Holders: holders, Epoch: 4},
		{ID: "k3", Curve: curveSecp256k1, Threshold: 1, Holders: holders, InFlight: &InFlightReshare{Epoch: 1, Kind: KindRevocation, Holders: holders[:2]}},
	} {
		if err := st.PutKey(k, nil); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := New(Options{DataDir: dir, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if ks, err := st.ListKeysInFlight(); err != nil || len(ks) != 0 {
		t.Fatalf("keys still in flight after the start: %d, %v", len(ks), err)
	}
	k1, err := st.GetKey("k1")
	if err != nil || k1.InFlight != nil || k1.Next() != 3 {
		t.Fatalf("k1 after the start: %+v %v", k1, err)
	}
	if k2, err := st.GetKey("k2"); err != nil || k2.Epoch != 4 || k2.InFlight != nil {
		t.Fatalf("k2 after the start: %+v %v", k2, err)
	}
	es, err := st.ListAudit(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var abandoned []string
	for _, e := range es {
		if e.Actor == "system:recovery" && e.Result == "failed" {
			abandoned = append(abandoned, e.Action+" "+e.KeyID)
		}
	}
	if want := []string{"key.drill k1", "key.revocation k3"}; !slices.Equal(abandoned, want) {
		t.Fatalf("recovery audit entries %q, want %q", abandoned, want)
	}
}
