package coordinator

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// ListSessions lists the sessions running now and the most recent finished
// ones, newest first, with the devices blamed for aborted ones.
func (s *Server) ListSessions(ctx context.Context, req *mpcv1.ListSessionsRequest) (*mpcv1.ListSessionsResponse, error) {
	return s.listSessions(req, s.sessions.RunningInfo)
}

// listSessions is ListSessions with running describing the sessions
// running now (relay.Sessions.RunningInfo).
func (s *Server) listSessions(req *mpcv1.ListSessionsRequest, running func() []*mpcv1.SessionInfo) (*mpcv1.ListSessionsResponse, error) {
	limit := int(req.GetLimit())
	if limit == 0 {
		limit = 100
	}
	if limit > 1000 {
		return nil, invalidArg("limit is at most 1000")
	}
	out := &mpcv1.ListSessionsResponse{Sessions: running()}
	recs, err := s.store.NewestSessions(limit)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		out.Sessions = append(out.Sessions, &mpcv1.SessionInfo{
			Id: r.ID, Kind: r.Kind, KeyId: r.KeyID, Devices: r.Devices,
			StartedAt: timestamppb.New(r.Started), FinishedAt: timestamppb.New(r.Finished),
			Ok: r.OK, Reason: r.Reason, Culprits: r.Culprits, Blame: r.Blame,
		})
	}
	return out, nil
}

// RecentSessions lists recorded sessions, oldest first.
func (s *Server) RecentSessions() ([]SessionRecord, error) { return s.store.ListSessions() }
