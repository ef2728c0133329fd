package relay

import (
	"slices"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// RunningInfo describes the sessions running now, newest first: their
// full ref in hex, kind, key, sorted device names, and no finish time.
func TestRunningInfo(t *testing.T) {
	m := NewSessions(Config{Links: NewLinks(), Now: time.Now})
	if got := m.RunningInfo(); len(got) != 0 {
		t.Fatalf("no session running: %v", got)
	}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m.byRef["r"] = &session{ref: []byte{0xab}, kind: mpcv1.SessionKind_SESSION_KIND_RESHARE, keyID: "k1", started: start.Add(time.Hour),
		members: map[string]registry.Device{"id-b": {Name: "b"}, "id-a": {Name: "a"}}}
	m.byRef["q"] = &session{ref: []byte{0xcd, 0x01}, kind: mpcv1.SessionKind_SESSION_KIND_SIGN, keyID: "k2", started: start,
		members: map[string]registry.Device{"id-c": {Name: "c"}}}
	got := m.RunningInfo()
	var ids []string
	for _, x := range got {
		ids = append(ids, x.GetId())
	}
	if !slices.Equal(ids, []string{"ab", "cd01"}) {
		t.Fatalf("running sessions %v, want the newest first", ids)
	}
	if r := got[0]; !r.GetRunning() || r.GetKind() != "reshare" || r.GetKeyId() != "k1" || !slices.Equal(r.GetDevices(), []string{"a", "b"}) ||
		r.GetFinishedAt() != nil || !r.GetStartedAt().AsTime().Equal(start.Add(time.Hour)) {
		t.Fatalf("running session: %v", r)
	}
	if r := got[1]; r.GetKind() != "sign" || r.GetKeyId() != "k2" || !slices.Equal(r.GetDevices(), []string{"c"}) {
		t.Fatalf("running session: %v", r)
	}
}
