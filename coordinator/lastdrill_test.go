package coordinator

import "testing"

// A key's last drill is LastDrill; a key whose last drill was recorded
// before drills were kept apart has it only as its LastReshare.
func TestLastDrill(t *testing.T) {
	drill := &ReshareReport{Kind: "drill", OK: true, ToEpoch: 1}
	revocation := &ReshareReport{Kind: "revocation", OK: true, ToEpoch: 2}
	for _, tc := range []struct {
		name string
		key  Key
		want *ReshareReport
	}{
		{"none", Key{}, nil},
		{"both", Key{LastDrill: drill, LastReshare: revocation}, drill},
		{"drill only in last_reshare", Key{LastReshare: drill}, drill},
		{"revocation only", Key{LastReshare: revocation}, nil},
	} {
		if got := lastDrill(tc.key); got != tc.want {
			t.Errorf("%s: lastDrill() = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
