package coordinator

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mpcsign/mpcsign/coordinator/relay"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// ListSessions shows the newest finished sessions first, with the culprits
// of aborted ones, and bounds how many it reads: a page at a time.
func TestListSessionsNewestFirst(t *testing.T) {
	st, err := OpenBadgerStore(t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := &Server{store: st, sessions: relay.NewSessions(relay.Config{Links: relay.NewLinks(), Store: st, Now: time.Now})}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 5 {
		r := SessionRecord{ID: fmt.Sprintf("s%d", i), Kind: "sign", KeyID: "k1", Devices: []string{"a", "b"},
			Started: start.Add(time.Duration(i) * time.Minute), Finished: start.Add(time.Duration(i)*time.Minute + time.Second), OK: i != 3}
		if i == 3 {
			r.Reason, r.Culprits = "the protocol failed", []string{"b"}
		}
		if err := st.PutSession(r); err != nil {
			t.Fatal(err)
		}
	}
	// One session running now (as relay.Sessions.RunningInfo describes it:
	// relay's TestRunningInfo).
	running := func() []*mpcv1.SessionInfo {
		return []*mpcv1.SessionInfo{{Id: "ab", Kind: "reshare", KeyId: "k1", Devices: []string{"a", "b"}, StartedAt: timestamppb.New(start.Add(time.Hour)), Running: true}}
	}
	if resp, err := s.ListSessions(context.Background(), &mpcv1.ListSessionsRequest{Limit: 3}); err != nil || len(resp.GetSessions()) != 3 || resp.GetSessions()[0].GetId() != "s4" {
		t.Fatalf("with no session running: %v %v", resp, err)
	}
	resp, err := s.listSessions(&mpcv1.ListSessionsRequest{Limit: 3}, running)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, x := range resp.GetSessions() {
		ids = append(ids, x.GetId())
	}
	if !slices.Equal(ids, []string{"ab", "s4", "s3", "s2"}) {
		t.Fatalf("sessions %v, want the running one, then the 3 newest first", ids)
	}
	if r := resp.GetSessions()[0]; !r.GetRunning() || r.GetKind() != "reshare" || r.GetKeyId() != "k1" || !slices.Equal(r.GetDevices(), []string{"a", "b"}) || r.GetFinishedAt() != nil {
		t.Fatalf("running session: %v", r)
	}
	aborted := resp.GetSessions()[2]
	if aborted.GetOk() || aborted.GetRunning() || !slices.Equal(aborted.GetCulprits(), []string{"b"}) || aborted.GetReason() != "the protocol failed" ||
		!aborted.GetStartedAt().AsTime().Equal(start.Add(3*time.Minute)) || !aborted.GetFinishedAt().AsTime().Equal(start.Add(3*time.Minute+time.Second)) {
		t.Fatalf("aborted session: %v", aborted)
	}
	// A limit over the maximum is taken as the maximum (AIP-158), no longer
	// refused: all five, the last page.
	if resp, err := s.ListSessions(context.Background(), &mpcv1.ListSessionsRequest{Limit: 1001}); err != nil || len(resp.GetSessions()) != 5 || resp.GetNextPageToken() != "" {
		t.Fatalf("a limit over 1000: %v %v", resp, err)
	}

	// Pages of two: the running session on the first page only, then the
	// finished ones newest first, each once.
	ids = nil
	req := &mpcv1.ListSessionsRequest{PageSize: 2}
	for pages := 1; ; pages++ {
		resp, err := s.listSessions(req, running)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range resp.GetSessions() {
			ids = append(ids, x.GetId())
		}
		if resp.GetNextPageToken() == "" {
			if pages != 3 {
				t.Fatalf("%d pages, want 3", pages)
			}
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	if !slices.Equal(ids, []string{"ab", "s4", "s3", "s2", "s1", "s0"}) {
		t.Fatalf("paged sessions %v", ids)
	}
	// RecentSessions reads them all, oldest first.
	recs, err := s.RecentSessions()
	if err != nil || len(recs) != 5 || recs[0].ID != "s0" || recs[4].ID != "s4" {
		t.Fatalf("recent sessions: %+v %v", recs, err)
	}
}
