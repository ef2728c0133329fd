package coordinator_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/pairing"
	"github.com/mpcsign/mpcsign/keystore"
	"github.com/mpcsign/mpcsign/party"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

func TestConnectHandshake(t *testing.T) {
	c := testkit.New(t, testkit.Options{})
	d := c.AddDevice(t, "phone", nil)
	c.StopDevice(t, "phone")
	raw, err := d.Store.Get("device/identity")
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.Unmarshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	devID := identity.DeviceID(id.PublicKey())
	link := mpcv1.NewPartyLinkServiceClient(c.Dial(t, ""))

	// handshake opens a stream, answers its challenge with answer(nonce) and
	// returns the coordinator's verdict.
	handshake := func(hello string, answer func(nonce []byte) []byte) (*mpcv1.ConnectResponse, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stream, err := link.Connect(ctx)
		if err != nil {
			return nil, err
		}
		if err := stream.Send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_Hello{Hello: &mpcv1.Hello{DeviceId: hello}}}); err != nil {
			return nil, err
		}
		m, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		if err := stream.Send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_Answer{Answer: &mpcv1.ChallengeAnswer{Signature: answer(m.GetChallenge().GetNonce())}}}); err != nil {
			return nil, err
		}
		return stream.Recv()
	}

	var captured []byte
	resp, err := handshake(devID, func(n []byte) []byte {
		captured = id.Sign(identity.ConnectTranscript(n, devID, c.Server.Fingerprint()))
		return captured
	})
	if err != nil || resp.GetWelcome() == nil {
		t.Fatalf("honest handshake: %v %v", resp, err)
	}

	t.Run("replayed answer is refused", func(t *testing.T) {
		_, err := handshake(devID, func([]byte) []byte { return captured })
		if code(err) != codes.Unauthenticated {
			t.Fatalf("replayed handshake: %v", err)
		}
	})
	t.Run("answer meant for another coordinator is refused", func(t *testing.T) {
		_, err := handshake(devID, func(n []byte) []byte {
			return id.Sign(identity.ConnectTranscript(n, devID, strings.Repeat("ab", 32)))
		})
		if code(err) != codes.Unauthenticated {
			t.Fatalf("answer for another certificate: %v", err)
		}
	})
	t.Run("unknown device is refused", func(t *testing.T) {
		_, err := handshake("0123456789abcdef0123", func([]byte) []byte { return make([]byte, 64) })
		if code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "unknown device") {
			t.Fatalf("unknown device: %v", err)
		}
	})
	t.Run("revoked device is refused", func(t *testing.T) {
		if _, err := c.Admin.RevokeDevice(context.Background(), &mpcv1.RevokeDeviceRequest{Device: "phone"}); err != nil {
			t.Fatal(err)
		}
		_, err := handshake(devID, func(n []byte) []byte { return id.Sign(identity.ConnectTranscript(n, devID, c.Server.Fingerprint())) })
		if code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "revoked") {
			t.Fatalf("revoked device: %v", err)
		}
	})
}

func TestDevicePinsTheCoordinatorCertificate(t *testing.T) {
	c := testkit.New(t, testkit.Options{})
	resp, err := c.Admin.CreatePairingCode(context.Background(), &mpcv1.CreatePairingCodeRequest{Name: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	code, err := pairing.Parse(resp.GetCode())
	if err != nil {
		t.Fatal(err)
	}
	if code.Address != c.Addr || code.FingerprintHex() != c.Server.Fingerprint() {
		t.Fatalf("pairing code carries %s %s", code.Address, code.FingerprintHex())
	}
	// The same code pinned to another certificate: the device must refuse the server.
	rand.Read(code.Fingerprint[:])
	ks, err := keystore.Open(t.TempDir(), keystore.NewPassphrase([]byte("pw")), keystore.Options{KDF: testkit.TestKDF})
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	_, err = party.Enroll(context.Background(), ks, code.String())
	if err == nil || !strings.Contains(err.Error(), "fingerprint") {
		t.Fatalf("enrolment with a wrong pin: %v", err)
	}
	// The genuine code still works: the refused attempt never reached the coordinator.
	if _, err := party.Enroll(context.Background(), ks, resp.GetCode()); err != nil {
		t.Fatalf("genuine code after a refused pin: %v", err)
	}
}
