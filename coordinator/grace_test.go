package coordinator_test

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// TestSignWaitsForHoldersAfterStart: within ReconnectGrace of its start
// (a replica that just took over), a Sign whose key's holders are still
// reconnecting waits for them instead of failing; without the grace it is
// refused at once.
func TestSignWaitsForHoldersAfterStart(t *testing.T) {
	for _, grace := range []time.Duration{0, 5 * time.Minute} {
		c := testkit.New(t, testkit.Options{AutoApprove: true, ReconnectGrace: grace})
		for _, name := range []string{"phone", "laptop", "server"} {
			c.AddDevice(t, name, nil) // EdDSA takes no pre-parameters
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		resp, err := c.Admin.CreateKey(ctx, &mpcv1.CreateKeyRequest{Curve: mpcv1.Curve_CURVE_ED25519, Threshold: 1, Devices: []string{"phone", "laptop", "server"}})
		if err != nil {
			t.Fatal(err)
		}
		key := resp.GetKey()
		c.StopDevice(t, "phone")
		c.StopDevice(t, "laptop")
		signed := make(chan error, 1)
		go func() {
			r, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Message: []byte("after a failover")})
			if err == nil && !ed25519.Verify(key.GetPublicKey(), []byte("after a failover"), r.GetSignature()) {
				t.Error("the signature does not verify")
			}
			signed <- err
		}()
		if grace == 0 {
			if err := <-signed; code(err) != codes.FailedPrecondition {
				t.Fatalf("without a grace, a Sign with one holder online: %v; want FailedPrecondition at once", err)
			}
			continue
		}
		select {
		case err := <-signed:
			t.Fatalf("within the grace, a Sign with one holder online ended before a second came back: %v", err)
		case <-time.After(time.Second):
		}
		c.RestartDevice(t, "laptop")
		if err := <-signed; err != nil {
			t.Fatalf("within the grace, the Sign failed once a second holder was back: %v", err)
		}
	}
}
