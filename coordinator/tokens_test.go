package coordinator_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

func TestTokens(t *testing.T) {
	c := testkit.New(t, testkit.Options{})
	ctx := context.Background()
	created, err := c.Admin.CreateToken(ctx, &mpcv1.CreateTokenRequest{Role: mpcv1.TokenRole_TOKEN_ROLE_SIGNER, Name: "wallet-eu"})
	if err != nil {
		t.Fatal(err)
	}
	signer := mpcv1.NewSignerServiceClient(c.Dial(t, created.GetToken()))
	admin := mpcv1.NewAdminServiceClient(c.Dial(t, created.GetToken()))
	sign := func() error {
		_, err := signer.Sign(ctx, &mpcv1.SignRequest{KeyId: "kunknown", Digest: make([]byte, 32)})
		return err
	}
	if err := sign(); code(err) != codes.NotFound {
		t.Fatalf("a new signer token must reach Sign (NotFound for an unknown key), got %v", err)
	}
	if _, err := admin.ListDevices(ctx, &mpcv1.ListDevicesRequest{}); code(err) != codes.PermissionDenied {
		t.Fatalf("a signer token on an admin RPC: %v", err)
	}
	if _, err := c.Admin.CreateToken(ctx, &mpcv1.CreateTokenRequest{Name: "x"}); code(err) != codes.InvalidArgument {
		t.Fatalf("token without role: %v", err)
	}

	list, err := c.Admin.ListTokens(ctx, &mpcv1.ListTokensRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var adminID string
	for _, tk := range list.GetTokens() {
		if tk.GetRole() == mpcv1.TokenRole_TOKEN_ROLE_ADMIN {
			adminID = tk.GetId()
		}
	}
	if len(list.GetTokens()) != 3 || adminID == "" {
		t.Fatalf("want the initial admin and signer tokens and the new one, got %v", list.GetTokens())
	}

	if _, err := c.Admin.RevokeToken(ctx, &mpcv1.RevokeTokenRequest{Id: created.GetInfo().GetId()}); err != nil {
		t.Fatal(err)
	}
	if err := sign(); code(err) != codes.Unauthenticated {
		t.Fatalf("a revoked token still works: %v", err)
	}
	if _, err := c.Admin.RevokeToken(ctx, &mpcv1.RevokeTokenRequest{Id: adminID}); code(err) != codes.FailedPrecondition {
		t.Fatalf("revoking the last admin token: %v", err)
	}
	second, err := c.Admin.CreateToken(ctx, &mpcv1.CreateTokenRequest{Role: mpcv1.TokenRole_TOKEN_ROLE_ADMIN, Name: "ops2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Admin.RevokeToken(ctx, &mpcv1.RevokeTokenRequest{Id: adminID}); err != nil {
		t.Fatalf("revoking the first admin token once another exists: %v", err)
	}
	if _, err := c.Admin.ListDevices(ctx, &mpcv1.ListDevicesRequest{}); code(err) != codes.Unauthenticated {
		t.Fatalf("the revoked admin token still works: %v", err)
	}
	other := mpcv1.NewAdminServiceClient(c.Dial(t, second.GetToken()))
	if _, err := other.ListDevices(ctx, &mpcv1.ListDevicesRequest{}); err != nil {
		t.Fatalf("the new admin token: %v", err)
	}
	if _, err := other.RevokeToken(ctx, &mpcv1.RevokeTokenRequest{Id: "nope"}); code(err) != codes.NotFound {
		t.Fatalf("unknown token id: %v", err)
	}
}
