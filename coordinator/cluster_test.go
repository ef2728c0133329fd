package coordinator_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// glog-style flush daemons started by dependencies at init.
		goleak.IgnoreTopFunction("github.com/ipfs/go-log/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreAnyFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
	)
}

func digest(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

// verify checks a signature with decred's secp256k1, independently of the
// service's own code.
func verify(t *testing.T, pubBytes, dg []byte, r *mpcv1.SignResponse) {
	t.Helper()
	pub, err := secp256k1.ParsePubKey(pubBytes)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := ecdsa.ParseDERSignature(r.GetSignatureDer())
	if err != nil {
		t.Fatalf("DER: %v", err)
	}
	if !sig.Verify(dg, pub) {
		t.Fatal("signature does not verify")
	}
	halfN := new(big.Int).Rsh(secp256k1.S256().N, 1)
	if new(big.Int).SetBytes(r.GetS()).Cmp(halfN) > 0 {
		t.Fatal("s is not low-S")
	}
	if !bytes.Equal(r.GetSignatureRsv(), append(append(append([]byte{}, r.GetR()...), r.GetS()...), byte(r.GetV()))) {
		t.Fatal("r||s||v does not match r, s, v")
	}
	rec, _, err := ecdsa.RecoverCompact(append([]byte{27 + 4 + byte(r.GetV())}, r.GetSignatureRsv()[:64]...), dg)
	if err != nil || !rec.IsEqual(pub) {
		t.Fatalf("v=%d does not recover the public key (%v)", r.GetV(), err)
	}
}

func code(err error) codes.Code { return status.Code(err) }

func TestKeygenSignAndDeviceLoss(t *testing.T) {
	c := testkit.New(t, testkit.Options{SignTimeout: 20 * time.Second})
	ctx := context.Background()
	for i, name := range []string{"phone", "laptop", "server"} {
		c.AddDevice(t, name, testkit.FixtureSets(t, i+1)[:2])
	}
	key := c.CreateKey(t, 1, "phone", "laptop", "server")
	if len(key.GetPublicKey()) != 33 || len(key.GetHolders()) != 3 || key.GetThreshold() != 1 {
		t.Fatalf("unexpected key %v", key)
	}

	t.Run("shares agree with the key", func(t *testing.T) {
		got, err := c.Admin.GetKey(ctx, &mpcv1.GetKeyRequest{KeyId: key.GetId()})
		if err != nil || !bytes.Equal(got.GetKey().GetPublicKey(), key.GetPublicKey()) {
			t.Fatalf("GetKey: %v %v", got, err)
		}
		devs, err := c.Admin.ListDevices(ctx, &mpcv1.ListDevicesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range devs.GetDevices() {
			if len(d.GetKeyIds()) != 1 || d.GetKeyIds()[0] != key.GetId() {
				t.Fatalf("device %s lists keys %v", d.GetName(), d.GetKeyIds())
			}
			if d.GetPreparamsReady() != 1 {
				t.Fatalf("device %s should have used one of its two pre-parameter sets, has %d", d.GetName(), d.GetPreparamsReady())
			}
		}
	})

	t.Run("concurrent signatures verify", func(t *testing.T) {
		var wg sync.WaitGroup
		resps := make([]*mpcv1.SignResponse, 6)
		errs := make([]error, len(resps))
		for i := range resps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resps[i], errs[i] = c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest(fmt.Sprint("msg", i))})
			}()
		}
		wg.Wait()
		for i, r := range resps {
			if errs[i] != nil {
				t.Fatalf("sign %d: %v", i, errs[i])
			}
			verify(t, key.GetPublicKey(), digest(fmt.Sprint("msg", i)), r)
			if len(r.GetSigners()) != 2 {
				t.Fatalf("want 2 signers, got %v", r.GetSigners())
			}
		}
	})

	t.Run("request id returns the first signature", func(t *testing.T) {
		first, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("pay 1"), RequestId: "req-1"})
		if err != nil {
			t.Fatal(err)
		}
		again, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("pay 1"), RequestId: "req-1"})
		if err != nil {
			t.Fatal(err)
		}
		if !again.GetReplayed() || first.GetReplayed() || !bytes.Equal(first.GetSignatureRsv(), again.GetSignatureRsv()) {
			t.Fatalf("replay differs: first %x (replayed=%v), again %x (replayed=%v)", first.GetSignatureRsv(), first.GetReplayed(), again.GetSignatureRsv(), again.GetReplayed())
		}
		_, err = c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("pay 2"), RequestId: "req-1"})
		if code(err) != codes.AlreadyExists {
			t.Fatalf("reused request id with another digest: %v", err)
		}
	})

	t.Run("concurrent calls with one request id sign once", func(t *testing.T) {
		before, err := c.Server.RecentSessions()
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		resps := make([]*mpcv1.SignResponse, 4)
		errs := make([]error, len(resps))
		for i := range resps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resps[i], errs[i] = c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("pay 3"), RequestId: "req-2"})
			}()
		}
		wg.Wait()
		fresh := 0
		for i, r := range resps {
			if errs[i] != nil {
				t.Fatalf("call %d: %v", i, errs[i])
			}
			if !bytes.Equal(r.GetSignatureRsv(), resps[0].GetSignatureRsv()) {
				t.Fatal("calls with one request id returned different signatures")
			}
			if !r.GetReplayed() {
				fresh++
			}
		}
		after, _ := c.Server.RecentSessions()
		if fresh != 1 || len(after)-len(before) != 1 {
			t.Fatalf("want one signing session and one fresh answer, got %d sessions and %d fresh answers", len(after)-len(before), fresh)
		}
	})

	t.Run("signs with two of three, refuses with one", func(t *testing.T) {
		c.StopDevice(t, "phone")
		r, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("phone off")})
		if err != nil {
			t.Fatal(err)
		}
		verify(t, key.GetPublicKey(), digest("phone off"), r)
		if strings.Join(r.GetSigners(), ",") != "laptop,server" {
			t.Fatalf("signers %v", r.GetSigners())
		}
		c.StopDevice(t, "laptop")
		_, err = c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("alone")})
		if code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "phone (offline)") || !strings.Contains(err.Error(), "laptop (offline)") {
			t.Fatalf("want FailedPrecondition naming phone and laptop, got %v", err)
		}
		c.RestartDevice(t, "phone")
		r, err = c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("phone back")})
		if err != nil {
			t.Fatal(err)
		}
		verify(t, key.GetPublicKey(), digest("phone back"), r)
	})

	t.Run("revoked device is refused and never signs", func(t *testing.T) {
		c.RestartDevice(t, "laptop")
		if _, err := c.Admin.RevokeDevice(ctx, &mpcv1.RevokeDeviceRequest{Device: "server"}); err != nil {
			t.Fatal(err)
		}
		c.WaitOffline(t, "server")
		for i := 0; i < 3; i++ {
			r, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest(fmt.Sprint("after revoke", i))})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range r.GetSigners() {
				if s == "server" {
					t.Fatal("revoked device took part in a signature")
				}
			}
		}
		_, err := c.Admin.CreateKey(ctx, &mpcv1.CreateKeyRequest{Threshold: 1, Devices: []string{"phone", "server"}})
		if code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "revoked") {
			t.Fatalf("keygen with a revoked device: %v", err)
		}
	})
}

func TestKeygenWaitsForPreparams(t *testing.T) {
	c := testkit.New(t, testkit.Options{})
	ctx := context.Background()
	c.AddDevice(t, "a", testkit.FixtureSets(t, 1)[2:])
	b := c.AddDevice(t, "b", nil)

	short, cancel := context.WithTimeout(ctx, 3*time.Second) // the coordinator answers ~600 ms before this
	defer cancel()
	_, err := c.Admin.CreateKey(short, &mpcv1.CreateKeyRequest{Threshold: 1, Devices: []string{"a", "b"}})
	if err == nil || !strings.Contains(err.Error(), "b (0/1 ready)") || strings.Contains(err.Error(), "a (") {
		t.Fatalf("want an error naming only b as preparing, got %v", err)
	}

	done := make(chan error, 1)
	go func() {
		_, err := c.Admin.CreateKey(ctx, &mpcv1.CreateKeyRequest{Threshold: 1, Devices: []string{"a", "b"}})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("keygen finished before b had pre-parameters: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	if err := b.Agent.Pool().Add(testkit.FixtureSets(t, 2)[2]); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("keygen after b became ready: %v", err)
	}
}
