package coordinator

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mpcsign/mpcsign/internal/auditlog"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

type actorKey struct{}

// caller is the API token that made a call, set by the auth interceptor.
type caller struct{ id, name string }

type systemActorKey struct{}

// withSystemActor marks work the coordinator does on its own (such as the
// reshare after a revocation) for the audit log.
func withSystemActor(ctx context.Context, what string) context.Context {
	return context.WithValue(ctx, systemActorKey{}, "system:"+what)
}

// actor is who made the call, for the audit log.
func actor(ctx context.Context) string {
	if c, ok := ctx.Value(actorKey{}).(caller); ok {
		return "token:" + c.id
	}
	if a, ok := ctx.Value(systemActorKey{}).(string); ok {
		return a
	}
	return ""
}

// requester is the calling token's name, shown to devices' approval policies.
func requester(ctx context.Context) string {
	c, _ := ctx.Value(actorKey{}).(caller)
	return c.name
}

// auditEntry fills in who, when and the result, for an entry that a store
// transaction seals together with its action.
func (s *Server) auditEntry(ctx context.Context, e auditlog.Entry) auditlog.Entry {
	if e.Actor == "" {
		e.Actor = actor(ctx)
	}
	if e.Result == "" {
		e.Result = "ok"
	}
	e.Time = s.opts.Now().UTC()
	return e
}

// audit appends an entry to the hash-chained log. Callers treat its error as
// the action's failure: nothing is reported as done without its entry.
func (s *Server) audit(ctx context.Context, e auditlog.Entry) error {
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	e = s.auditEntry(ctx, e)
	sealed, err := s.store.AppendAudit(e)
	if err != nil {
		s.log.Error("could not write the audit log; refusing the action", "action", e.Action, "err", err)
		return fmt.Errorf("audit log: %w", err)
	}
	s.metrics.audited(sealed.Seq)
	return nil
}

// auditFailure records a failed action (with culprits when a session blamed
// devices) and returns the original error.
func (s *Server) auditFailure(ctx context.Context, e auditlog.Entry, cause error) error {
	e.Result = "failed"
	var se *SessionError
	var ce *clientError
	var pr *PolicyRefusal
	switch {
	case errors.As(cause, &se):
		e.Detail, e.Culprits = se.Reason, se.Culprits
		if len(se.Culprits) > 0 && se.Blame != "" {
			e.Detail += " (blame " + string(se.Blame) + ": " + se.Blame.Describe() + ")"
		}
	case errors.As(cause, &pr):
		// A device refused (its roster, an operator authorization, its
		// approval policy): who and why belong on the trail.
		e.Detail = strings.TrimPrefix(e.Detail+"; "+pr.Error(), "; ")
	case errors.As(cause, &ce):
		e.Detail = ce.msg
	}
	if err := s.audit(ctx, e); err != nil {
		return err
	}
	return cause
}

// ExportAudit returns stored audit entries in order, a page at a time.
// The last page is the one that reaches the height the chain had when it
// was read (entries appended meanwhile are on a next page).
func (s *Server) ExportAudit(ctx context.Context, req *mpcv1.ExportAuditRequest) (*mpcv1.ExportAuditResponse, error) {
	size, err := pageSize(req.GetPageSize(), req.GetLimit(), defaultAuditPageSize, maxAuditPageSize)
	if err != nil {
		return nil, err
	}
	tok, err := parsePageToken(req.GetPageToken(), listAudit)
	if err != nil {
		return nil, err
	}
	since := max(req.GetSinceSeq(), 1)
	if tok.Seq > 0 {
		since = tok.Seq
	}
	es, err := s.store.ListAudit(since, size)
	if err != nil {
		return nil, err
	}
	height, err := s.store.AuditHeight()
	if err != nil {
		return nil, err
	}
	out := &mpcv1.ExportAuditResponse{Height: height}
	for _, e := range es {
		b, err := auditlog.Marshal(e)
		if err != nil {
			return nil, err
		}
		out.Entries = append(out.Entries, b)
	}
	if n := len(es); n > 0 && es[n-1].Seq < height {
		if out.NextPageToken, err = (pageToken{List: listAudit, Seq: es[n-1].Seq + 1}).encode(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
