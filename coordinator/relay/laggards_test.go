package relay

import (
	"log/slog"
	"slices"
	"testing"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// The coordinator checks a timeout's blame against what it relayed: a
// member as far along as anyone is not what the session waited for. The
// check only narrows a party's list, and a member that skips rounds is not
// credited with them.
func TestTimeoutCulprits(t *testing.T) {
	members := map[string]registry.Device{"a": {ID: "a"}, "b": {ID: "b"}, "c": {ID: "c"}}
	type sent struct {
		from  string
		round uint32
	}
	// upTo relays round 1 to r from each of ids, round by round.
	upTo := func(r uint32, ids ...string) []sent {
		var out []sent
		for round := uint32(1); round <= r; round++ {
			for _, id := range ids {
				out = append(out, sent{id, round})
			}
		}
		return out
	}
	sign, keygen, reshare := mpcv1.SessionKind_SESSION_KIND_SIGN, mpcv1.SessionKind_SESSION_KIND_KEYGEN, mpcv1.SessionKind_SESSION_KIND_RESHARE
	for _, tc := range []struct {
		name  string
		kind  mpcv1.SessionKind
		sent  []sent   // relayed, in order
		named []string // whom the reporting party waited for
		want  []string
	}{
		{"nothing relayed: the party's word", sign, nil, []string{"b"}, []string{"b"}},
		{"all at one round: the party's word", sign, upTo(3, "a", "b", "c"), []string{"b"}, []string{"b"}},
		{"the named laggard", sign, append(upTo(2, "a", "b", "c"), sent{"a", 3}, sent{"c", 3}), []string{"b"}, []string{"b"}},
		{"an innocent named with the laggard is dropped", sign, append(upTo(2, "a", "b", "c"), sent{"a", 3}, sent{"c", 3}), []string{"a", "b"}, []string{"b"}},
		{"only non-laggards named: the party's word stands", sign, append(upTo(2, "a", "b", "c"), sent{"a", 3}, sent{"c", 3}), []string{"a"}, []string{"a"}},
		{"a member that sent nothing is a laggard", keygen, upTo(1, "a", "c"), []string{"b", "c"}, []string{"b"}},
		{"skipping ahead is not credited", sign, append(upTo(1, "a", "b"), sent{"c", 3}, sent{"c", 4}), []string{"c"}, []string{"c"}},
		{"one round past the least is credited, no more", sign, append(upTo(2, "a", "b", "c"), sent{"a", 5}), []string{"b", "c"}, []string{"b", "c"}},
		{"reshare committees send in different rounds: the party's word", reshare, []sent{{"a", 1}, {"b", 2}, {"c", 2}}, []string{"c"}, []string{"c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &session{kind: tc.kind, members: members, log: slog.New(slog.DiscardHandler)}
			for _, m := range tc.sent {
				s.roundSeen(noMetrics{}, m.from, m.round)
			}
			got := s.timeoutCulprits(tc.named)
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("timeoutCulprits(%v) = %v, want %v (credited %v)", tc.named, got, tc.want, s.sentRound)
			}
		})
	}
}
