package coordinator

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/internal/auditlog"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

func roleOf(r mpcv1.TokenRole) (Role, error) {
	switch r {
	case mpcv1.TokenRole_TOKEN_ROLE_SIGNER:
		return RoleSigner, nil
	case mpcv1.TokenRole_TOKEN_ROLE_ADMIN:
		return RoleAdmin, nil
	}
	return "", invalidArg("role must be signer or admin")
}

func tokenProto(t Token) *mpcv1.TokenInfo {
	role := mpcv1.TokenRole_TOKEN_ROLE_SIGNER
	if t.Role == RoleAdmin {
		role = mpcv1.TokenRole_TOKEN_ROLE_ADMIN
	}
	return &mpcv1.TokenInfo{Id: t.ID, Name: t.Name, Role: role, CreatedAt: timestamppb.New(t.CreatedAt), Revoked: t.Revoked}
}

// CreateToken makes an API token and returns it once.
func (s *Server) CreateToken(ctx context.Context, req *mpcv1.CreateTokenRequest) (*mpcv1.CreateTokenResponse, error) {
	role, err := roleOf(req.GetRole())
	if err != nil {
		return nil, err
	}
	if n := len(req.GetName()); n < 1 || n > 64 {
		return nil, invalidArg("name must be 1 to 64 characters")
	}
	e := s.auditEntry(ctx, auditlog.Entry{Action: "token.create"})
	tok, err := newToken(s.store, role, req.GetName(), s.opts.Now(), &e)
	if err != nil {
		return nil, err
	}
	s.metrics.audited(e.Seq)
	t, err := s.store.GetToken(tokenHash(tok))
	if err != nil {
		return nil, err
	}
	s.log.Info("API token created", "id", t.ID, "name", t.Name, "role", t.Role)
	return &mpcv1.CreateTokenResponse{Token: tok, Info: tokenProto(t)}, nil
}

// ListTokens lists tokens without the tokens themselves.
func (s *Server) ListTokens(ctx context.Context, _ *mpcv1.ListTokensRequest) (*mpcv1.ListTokensResponse, error) {
	ts, err := s.store.ListTokens()
	if err != nil {
		return nil, err
	}
	out := &mpcv1.ListTokensResponse{}
	for _, t := range ts {
		out.Tokens = append(out.Tokens, tokenProto(t))
	}
	return out, nil
}

// RevokeToken refuses a token from now on. The last working admin token
// cannot be revoked: that would lock every operator out.
func (s *Server) RevokeToken(ctx context.Context, req *mpcv1.RevokeTokenRequest) (*mpcv1.RevokeTokenResponse, error) {
	e := s.auditEntry(ctx, auditlog.Entry{Action: "token.revoke"})
	t, err := s.store.UpdateToken(req.GetId(), func(t *Token, all []Token) error {
		e.Detail = fmt.Sprintf("token %s %q", t.ID, t.Name)
		if t.Revoked {
			return nil
		}
		if t.Role == RoleAdmin {
			admins := 0
			for _, o := range all {
				if o.Role == RoleAdmin && !o.Revoked {
					admins++
				}
			}
			if admins <= 1 {
				return failedPrecondition("this is the last admin token: create another admin token before revoking it")
			}
		}
		t.Revoked = true
		return nil
	}, &e)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, &clientError{codes.NotFound, "unknown token id"}
	}
	if err != nil {
		return nil, err
	}
	s.metrics.audited(e.Seq)
	s.log.Info("API token revoked", "id", t.ID, "name", t.Name)
	return &mpcv1.RevokeTokenResponse{Info: tokenProto(t)}, nil
}
