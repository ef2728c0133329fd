package coordinator

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/internal/auditlog"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

const tokenPrefix = "mpct_"

// methodRoles says which roles may call each method. Methods not listed need
// no token (the device link authenticates devices itself); a method missing
// from this table and from publicMethods is refused.
var methodRoles = map[string][]Role{
	mpcv1.SignerService_Sign_FullMethodName:             {RoleSigner, RoleAdmin},
	mpcv1.AdminService_CreatePairingCode_FullMethodName: {RoleAdmin},
	mpcv1.AdminService_ListDevices_FullMethodName:       {RoleAdmin},
	mpcv1.AdminService_RevokeDevice_FullMethodName:      {RoleAdmin},
	mpcv1.AdminService_ApproveDevice_FullMethodName:     {RoleAdmin},
	mpcv1.AdminService_CreateToken_FullMethodName:       {RoleAdmin},
	mpcv1.AdminService_ListTokens_FullMethodName:        {RoleAdmin},
	mpcv1.AdminService_RevokeToken_FullMethodName:       {RoleAdmin},
	mpcv1.AdminService_ExportAudit_FullMethodName:       {RoleAdmin},
	mpcv1.AdminService_CreateKey_FullMethodName:         {RoleAdmin},
	mpcv1.AdminService_ListKeys_FullMethodName:          {RoleAdmin},
	mpcv1.AdminService_GetKey_FullMethodName:            {RoleAdmin},
	mpcv1.AdminService_SetDerivationOnly_FullMethodName: {RoleAdmin},
	mpcv1.AdminService_ReshareKey_FullMethodName:        {RoleAdmin},
	mpcv1.AdminService_DrillKey_FullMethodName:          {RoleAdmin},
	mpcv1.AdminService_ListReshareJobs_FullMethodName:   {RoleAdmin},
	mpcv1.AdminService_ListSessions_FullMethodName:      {RoleAdmin},
	mpcv1.AdminService_GetRoster_FullMethodName:         {RoleAdmin},
	mpcv1.AdminService_SubmitRosterEntry_FullMethodName: {RoleAdmin},
}

var publicMethods = map[string]bool{
	mpcv1.PartyLinkService_Enroll_FullMethodName:  true,
	mpcv1.PartyLinkService_Connect_FullMethodName: true,
	// The standard health service, for load balancers and orchestrators.
	healthpb.Health_Check_FullMethodName: true,
	healthpb.Health_Watch_FullMethodName: true,
	healthpb.Health_List_FullMethodName:  true,
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte("mpcsign/v1/api-token\x00" + token))
	return h[:]
}

// newToken makes a random token and stores its hash with role, with its
// audit entry e (if set) in the same transaction.
func newToken(st Store, role Role, name string, now time.Time, e *auditlog.Entry) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	tok := tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	h := tokenHash(tok)
	t := Token{ID: hex.EncodeToString(h[:8]), Role: role, Name: name, CreatedAt: now}
	if e != nil {
		e.Detail = fmt.Sprintf("%s token %s %q", t.Role, t.ID, t.Name)
	}
	if err := st.PutToken(h, t, e); err != nil {
		return "", err
	}
	return tok, nil
}

// writeTokenFile makes a token and writes it to path (mode 0600).
func writeTokenFile(st Store, role Role, name, path string, now time.Time) error {
	tok, err := newToken(st, role, name, now, nil)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(tok+"\n"), 0o600)
}

func (s *Server) authorize(ctx context.Context, method string, who *caller) error {
	if publicMethods[method] {
		return nil
	}
	allowed, ok := methodRoles[method]
	if !ok {
		return ErrForbidden
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) != 1 || !strings.HasPrefix(vals[0], "Bearer ") {
		return ErrUnauthenticated
	}
	tok := strings.TrimPrefix(vals[0], "Bearer ")
	if !strings.HasPrefix(tok, tokenPrefix) || len(tok) > 128 {
		return ErrUnauthenticated
	}
	t, err := s.store.GetToken(tokenHash(tok))
	if errors.Is(err, registry.ErrNotFound) || err == nil && t.Revoked {
		return ErrUnauthenticated
	}
	if err != nil {
		return fmt.Errorf("token lookup: %w", err)
	}
	for _, r := range allowed {
		if t.Role == r {
			*who = caller{id: t.ID, name: t.Name}
			return nil
		}
	}
	return ErrForbidden
}

func (s *Server) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	var who caller
	if err := s.authorize(ctx, info.FullMethod, &who); err != nil {
		return nil, err
	}
	if who.id != "" {
		ctx = context.WithValue(ctx, actorKey{}, who)
	}
	return h(ctx, req)
}

func (s *Server) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	var who caller
	if err := s.authorize(ss.Context(), info.FullMethod, &who); err != nil {
		return err
	}
	return h(srv, ss)
}
