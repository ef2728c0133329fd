package coordinator

import (
	"context"
	"slices"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// ListSessions lists the sessions running now and the finished ones,
// newest first, a page at a time, with the devices blamed for aborted
// ones.
func (s *Server) ListSessions(ctx context.Context, req *mpcv1.ListSessionsRequest) (*mpcv1.ListSessionsResponse, error) {
	return s.listSessions(req, s.sessions.RunningInfo)
}

// listSessions is ListSessions with running describing the sessions
// running now (relay.Sessions.RunningInfo): they come first on the first
// page, outside its page size (they are few, and in memory).
func (s *Server) listSessions(req *mpcv1.ListSessionsRequest, running func() []*mpcv1.SessionInfo) (*mpcv1.ListSessionsResponse, error) {
	size, err := pageSize(req.GetPageSize(), req.GetLimit(), defaultPageSize, maxPageSize)
	if err != nil {
		return nil, err
	}
	tok, err := parsePageToken(req.GetPageToken(), listSessions)
	if err != nil {
		return nil, err
	}
	out := &mpcv1.ListSessionsResponse{}
	var before *registry.SessionCursor
	if tok.Started != nil {
		before = &registry.SessionCursor{Started: *tok.Started, ID: string(tok.After)}
	} else {
		out.Sessions = running()
	}
	recs, err := s.store.ListSessionsBefore(before, size+1)
	if err != nil {
		return nil, err
	}
	if len(recs) > size {
		recs = recs[:size]
		last := recs[size-1]
		if out.NextPageToken, err = (pageToken{List: listSessions, After: []byte(last.ID), Started: &last.Started}).encode(); err != nil {
			return nil, err
		}
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

// RecentSessions lists every recorded session, oldest first (for tests:
// it reads them all).
func (s *Server) RecentSessions() ([]SessionRecord, error) {
	var all []SessionRecord
	var before *registry.SessionCursor
	for {
		page, err := s.store.ListSessionsBefore(before, maxPageSize)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < maxPageSize {
			slices.Reverse(all)
			return all, nil
		}
		last := page[len(page)-1]
		before = &registry.SessionCursor{Started: last.Started, ID: last.ID}
	}
}
