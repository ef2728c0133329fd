package coordinator

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/status"

	"github.com/mpcsign/mpcsign/coordinator/registry"
)

// AdminToken names a checked admin API token: its public id and its name,
// never the token itself.
type AdminToken struct {
	ID, Name string
}

// CheckAdminToken checks an API token the way the gRPC server does for an
// admin method: a known, unrevoked token with the admin role. A wrong,
// revoked or signer token is ErrUnauthenticated, so that a caller learns
// nothing about which of these it was.
func (s *Server) CheckAdminToken(token string) (AdminToken, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 128 {
		return AdminToken{}, ErrUnauthenticated
	}
	t, err := s.store.GetToken(tokenHash(token))
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return AdminToken{}, ErrUnauthenticated
	case err != nil:
		return AdminToken{}, fmt.Errorf("token lookup: %w", err)
	case t.Revoked || t.Role != RoleAdmin:
		return AdminToken{}, ErrUnauthenticated
	}
	return AdminToken{ID: t.ID, Name: t.Name}, nil
}

// AsAdmin returns ctx carrying t as the caller, for admin methods called in
// the coordinator's own process (the web console): they are audited under t
// exactly as over gRPC. It checks again that t is a live admin token, so a
// token revoked since it was checked stops working at once.
func (s *Server) AsAdmin(ctx context.Context, t AdminToken) (context.Context, error) {
	ts, err := s.store.ListTokens()
	if err != nil {
		return nil, fmt.Errorf("token lookup: %w", err)
	}
	for _, st := range ts {
		if st.ID == t.ID && !st.Revoked && st.Role == RoleAdmin {
			return context.WithValue(ctx, actorKey{}, caller{id: st.ID, name: st.Name}), nil
		}
	}
	return nil, ErrUnauthenticated
}

// PublicError is what a client may see of an error returned by one of the
// server's methods called in-process: a gRPC status with a safe message, as
// the gRPC server would send. An internal error's text goes to the log only.
func (s *Server) PublicError(method string, err error) *status.Status {
	if err == nil {
		return nil
	}
	st, internal := publicStatus(err)
	if internal {
		s.log.Error("internal error", "method", method, "err", err)
	}
	return st
}
