package coordinator

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/types/known/timestamppb"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// ListSessions lists the sessions running now and the most recent finished
// ones, newest first, with the devices blamed for aborted ones.
func (s *Server) ListSessions(ctx context.Context, req *mpcv1.ListSessionsRequest) (*mpcv1.ListSessionsResponse, error) {
	limit := int(req.GetLimit())
	if limit == 0 {
		limit = 100
	}
	if limit > 1000 {
		return nil, invalidArg("limit is at most 1000")
	}
	out := &mpcv1.ListSessionsResponse{Sessions: s.sessions.runningInfo()}
	recs, err := recentSessions(s.store, limit)
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

// runningInfo describes the sessions running now, newest first.
func (m *sessions) runningInfo() []*mpcv1.SessionInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*mpcv1.SessionInfo
	for _, s := range m.byRef {
		var devs []string
		for _, d := range s.members {
			devs = append(devs, d.Name)
		}
		sort.Strings(devs)
		out = append(out, &mpcv1.SessionInfo{Id: hex.EncodeToString(s.ref), Kind: kindName(s.kind), KeyId: s.keyID,
			Devices: devs, StartedAt: timestamppb.New(s.started), Running: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartedAt.AsTime().After(out[j].StartedAt.AsTime()) })
	return out
}

// newestSessions is a store that lists its newest session records without
// reading them all (there is one per signature).
type newestSessions interface {
	NewestSessions(limit int) ([]SessionRecord, error)
}

// recentSessions returns up to limit finished sessions, newest first.
func recentSessions(st Store, limit int) ([]SessionRecord, error) {
	if n, ok := st.(newestSessions); ok {
		return n.NewestSessions(limit)
	}
	all, err := st.ListSessions()
	if err != nil {
		return nil, err
	}
	all = all[max(len(all)-limit, 0):]
	slices.Reverse(all)
	return all, nil
}

// NewestSessions lists up to limit session records, newest first (records
// are keyed by start time).
func (s *badgerStore) NewestSessions(limit int) ([]SessionRecord, error) {
	var out []SessionRecord
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("session/"), Reverse: true, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Seek([]byte("session/\xff")); it.Valid() && len(out) < limit; it.Next() {
			var r SessionRecord
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &r) }); err != nil {
				return fmt.Errorf("session record %s: %w", strings.TrimPrefix(string(it.Item().Key()), "session/"), err)
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}
