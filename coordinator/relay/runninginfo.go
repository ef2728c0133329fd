package relay

import (
	"encoding/hex"
	"sort"

	"google.golang.org/protobuf/types/known/timestamppb"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// RunningInfo describes the sessions running now, newest first.
func (m *Sessions) RunningInfo() []*mpcv1.SessionInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*mpcv1.SessionInfo
	for _, s := range m.byRef {
		var devs []string
		for _, d := range s.members {
			devs = append(devs, d.Name)
		}
		sort.Strings(devs)
		out = append(out, &mpcv1.SessionInfo{Id: hex.EncodeToString(s.ref), Kind: KindName(s.kind), KeyId: s.keyID,
			Devices: devs, StartedAt: timestamppb.New(s.started), Running: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartedAt.AsTime().After(out[j].StartedAt.AsTime()) })
	return out
}
