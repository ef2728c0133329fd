package coordinator

import (
	"log/slog"
	"slices"
	"testing"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// The coordinator checks a timeout's blame against what it relayed: a
// member as far along as anyone is not what the session waited for.
func TestTimeoutCulprits(t *testing.T) {
	members := map[string]Device{"a": {ID: "a"}, "b": {ID: "b"}, "c": {ID: "c"}}
	for _, tc := range []struct {
		name  string
		kind  mpcv1.SessionKind
		sent  map[string]uint32 // the highest round relayed per member
		named []string          // whom the reporting party waited for
		want  []string
	}{
		{"nothing relayed: the party's word", mpcv1.SessionKind_SESSION_KIND_SIGN, nil, []string{"b"}, []string{"b"}},
		{"all at one round: the party's word", mpcv1.SessionKind_SESSION_KIND_SIGN, map[string]uint32{"a": 3, "b": 3, "c": 3}, []string{"b"}, []string{"b"}},
		{"the named laggard", mpcv1.SessionKind_SESSION_KIND_SIGN, map[string]uint32{"a": 3, "b": 2, "c": 3}, []string{"b"}, []string{"b"}},
		{"an innocent named with the laggard is dropped", mpcv1.SessionKind_SESSION_KIND_SIGN, map[string]uint32{"a": 3, "b": 2, "c": 3}, []string{"a", "b"}, []string{"b"}},
		{"only innocents named: the laggards instead", mpcv1.SessionKind_SESSION_KIND_SIGN, map[string]uint32{"a": 3, "b": 2, "c": 3}, []string{"a"}, []string{"b"}},
		{"a member that sent nothing is a laggard", mpcv1.SessionKind_SESSION_KIND_KEYGEN, map[string]uint32{"a": 1, "c": 1}, []string{"c"}, []string{"b"}},
		{"reshare committees send in different rounds: the party's word", mpcv1.SessionKind_SESSION_KIND_RESHARE, map[string]uint32{"a": 3, "b": 4, "c": 4}, []string{"c"}, []string{"c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &session{kind: tc.kind, members: members, log: slog.New(slog.DiscardHandler)}
			for id, r := range tc.sent {
				s.roundSeen(nil, id, r)
			}
			got := s.timeoutCulprits(tc.named)
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("timeoutCulprits(%v) = %v, want %v", tc.named, got, tc.want)
			}
		})
	}
}
