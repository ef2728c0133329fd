package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// TestBadInput checks that every refused request gets the right gRPC code
// and a message that helps, and that nothing panics on the way.
func TestBadInput(t *testing.T) {
	c := newCluster(t)
	c.startCoordinator(t)
	for _, n := range []string{"alice", "bob", "carol"} {
		c.runParty(t, c.enroll(t, n, n == "bob"))
	}
	c.waitReady(t, "alice", "bob", "carol")
	digest := hex.EncodeToString(digestOf("bad input"))
	unknownKey := "k" + randomHex(t, 10)

	t.Run("sign", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args []string
			code codes.Code
			want []string
		}{
			{"digest of 31 bytes", []string{"--key", unknownKey, "--digest", digest[:62]}, codes.InvalidArgument, []string{"32 bytes", "31"}},
			{"digest of 33 bytes", []string{"--key", unknownKey, "--digest", digest + "00"}, codes.InvalidArgument, []string{"32 bytes", "33"}},
			{"unknown key", []string{"--key", unknownKey, "--digest", digest}, codes.NotFound, []string{"unknown key"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				expectRPC(t, c.ctlErr(t, append([]string{"sign"}, tc.args...)...), tc.code, tc.want...)
			})
		}
	})

	t.Run("keys create", func(t *testing.T) {
		for _, tc := range []struct {
			name      string
			threshold string
			devices   string
			code      codes.Code
			want      []string
		}{
			{"unknown device", "1", "alice,mallory", codes.NotFound, []string{"unknown device", "mallory"}},
			{"threshold 0", "0", "alice,bob", codes.InvalidArgument, []string{"threshold 0"}},
			{"threshold equal to the devices", "2", "alice,bob", codes.InvalidArgument, []string{"threshold 2", "2 devices"}},
			{"threshold above the devices", "3", "alice,bob", codes.InvalidArgument, []string{"threshold 3"}},
			{"device listed twice", "1", "alice,bob,alice", codes.InvalidArgument, []string{"alice", "twice"}},
			{"one device", "1", "alice", codes.InvalidArgument, []string{"2 to 64 devices"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := c.ctlErr(t, "keys", "create", "--threshold", tc.threshold, "--devices", tc.devices)
				expectRPC(t, e, tc.code, tc.want...)
			})
		}
		if keys := c.listKeys(t); len(keys) != 0 {
			t.Errorf("refused requests created keys: %+v", keys)
		}
	})

	t.Run("offline device in keys create", func(t *testing.T) {
		c.enroll(t, "gina", false) // enrolled, never started
		e := c.ctlErr(t, "keys", "create", "--threshold", "1", "--devices", "alice,gina")
		expectRPC(t, e, codes.FailedPrecondition, "offline", "gina")
	})

	t.Run("revoked device", func(t *testing.T) { checkRevoked(t, c) })

	t.Run("pairing code used twice", func(t *testing.T) {
		code := c.pair(t, "dave").Code
		if r := c.enrollWith(t, c.newDevice(t, "dave", false), code); r.code != 0 {
			t.Fatalf("first enrolment with the code failed: exit %d\n%s", r.code, r.stderr)
		}
		r := c.enrollWith(t, c.newDevice(t, "dave-again", false), code)
		if r.code != 1 || !strings.Contains(r.stderr, "PermissionDenied") || !strings.Contains(r.stderr, "already used") {
			t.Errorf("second enrolment with the same code: exit %d, want 1 and PermissionDenied ... already used\n%s", r.code, r.stderr)
		}
		if n := countDevices(c.listDevices(t), "dave"); n != 1 {
			t.Errorf("%d devices named dave, want 1", n)
		}
	})

	t.Run("device pending until approved with the right string", func(t *testing.T) {
		d := c.newDevice(t, "hank", false)
		r := c.enrollWith(t, d, c.pair(t, "hank").Code)
		if r.code != 0 || !strings.Contains(r.stdout, "mpcctl devices approve hank --sas") {
			t.Fatalf("enrolment should tell how to approve: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		sas := sasOf(t, r.stdout)
		c.devices["hank"] = d
		p := c.runParty(t, d)
		time.Sleep(2 * time.Second)
		for _, info := range c.listDevices(t) {
			if info.Name == "hank" && (info.Status != "pending" || info.Online || info.SAS != sas) {
				t.Fatalf("before approval hank is %+v, want pending, offline, sas %s", info, sas)
			}
		}
		wrong := "000-000"
		if sas == wrong {
			wrong = "999-999"
		}
		expectRPC(t, c.ctlErr(t, "devices", "approve", "hank", "--sas", wrong), codes.FailedPrecondition, "does not match")
		c.approve(t, "hank", sas)
		c.waitReady(t, "hank")
		if !strings.Contains(p.stderr(), "waiting for the operator to approve this device; its short authentication string is "+sas) {
			t.Errorf("the party did not say it was waiting for approval:\n%s", p.stderr())
		}
	})

	t.Run("pairing code expired", func(t *testing.T) {
		pr := c.pair(t, "erin", "--ttl", "1s")
		time.Sleep(time.Until(pr.ExpiresAt) + time.Second)
		r := c.enrollWith(t, c.newDevice(t, "erin", false), pr.Code)
		if r.code != 1 || !strings.Contains(r.stderr, "expired") {
			t.Errorf("enrolment with an expired code: exit %d, want 1 and a message saying it expired\n%s", r.code, r.stderr)
		}
		if n := countDevices(c.listDevices(t), "erin"); n != 0 {
			t.Errorf("an expired code enrolled %d devices", n)
		}
	})

	t.Run("wrong token", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "wrong.token")
		if err := os.WriteFile(f, []byte("mpct_"+randomHex(t, 32)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"devices", "list"}, {"sign", "--key", unknownKey, "--digest", digest}} {
			e := c.ctlErr(t, append([]string{"--token-file", f}, args...)...)
			expectRPC(t, e, codes.Unauthenticated, "token")
		}
	})

	t.Run("signer token on admin RPCs", func(t *testing.T) {
		signer := filepath.Join(c.coordDir, "signer.token")
		for _, args := range [][]string{
			{"devices", "list"},
			{"devices", "pair", "--name", "frank"},
			{"keys", "create", "--threshold", "1", "--devices", "alice,bob"},
		} {
			e := c.ctlErr(t, append([]string{"--token-file", signer}, args...)...)
			expectRPC(t, e, codes.PermissionDenied, "role")
		}
		// The same token may sign: an unknown key gets past the role check.
		e := c.ctlErr(t, "--token-file", signer, "sign", "--key", unknownKey, "--digest", digest)
		expectRPC(t, e, codes.NotFound, "unknown key")
	})

	t.Run("fingerprint mismatch", func(t *testing.T) {
		other := sha256.Sum256([]byte(c.fingerprint))
		e := c.ctlErr(t, "--fingerprint", hex.EncodeToString(other[:]), "devices", "list")
		if msg := strings.ToLower(e.Msg); !strings.Contains(msg, "certificate") && !strings.Contains(msg, "fingerprint") {
			t.Errorf("a pin mismatch says %s: %q; want it to mention the certificate or fingerprint", e.Code, e.Msg)
		}
	})

	t.Run("direct gRPC", func(t *testing.T) { checkDirectGRPC(t, c, unknownKey) })
	t.Run("wrong keystore passphrase", func(t *testing.T) { checkPassphrase(t, c) })

	c.stopAll()
	t.Run("no panics in any log", func(t *testing.T) { c.assertNoPanics(t) })
}

func countDevices(devs []deviceInfo, name string) int {
	return len(slices.DeleteFunc(devs, func(d deviceInfo) bool { return d.Name != name }))
}

// checkRevoked revokes carol while her agent runs: the agent must exit with
// an error saying so, a restart must be refused the same way, and no key
// may include her.
func checkRevoked(t *testing.T, c *cluster) {
	carol := c.devices["carol"]
	var dev deviceInfo
	c.ctlJSON(t, &dev, "devices", "revoke", "carol")
	if dev.Name != "carol" || dev.Status != "revoked" {
		t.Errorf("devices revoke carol returned %+v", dev)
	}
	if !carol.proc.wait(30 * time.Second) {
		t.Fatalf("carol's agent still runs 30 s after her revocation")
	}
	if code := carol.proc.exitCode(); code != 1 || !strings.Contains(carol.proc.stderr(), "device is revoked") {
		t.Errorf("revoked agent exited with code %d, want 1 and 'device is revoked'\nstderr:\n%s", code, carol.proc.stderr())
	}
	c.waitOffline(t, "carol")
	for _, d := range c.listDevices(t) {
		if d.Name == "carol" && d.Status != "revoked" {
			t.Errorf("devices list shows carol %s, want revoked", d.Status)
		}
	}

	restart := c.runParty(t, carol)
	if !restart.wait(60 * time.Second) {
		t.Fatalf("a restarted revoked agent still runs after 60 s\nstderr:\n%s", restart.stderr())
	}
	if code := restart.exitCode(); code != 1 || !strings.Contains(restart.stderr(), "device is revoked") {
		t.Errorf("restarted revoked agent exited with code %d, want 1 and 'device is revoked'\nstderr:\n%s", code, restart.stderr())
	}

	e := c.ctlErr(t, "keys", "create", "--threshold", "1", "--devices", "alice,carol")
	expectRPC(t, e, codes.FailedPrecondition, "carol", "revoked")
}

// checkDirectGRPC sends requests that mpcctl cannot express.
func checkDirectGRPC(t *testing.T, c *cluster, unknownKey string) {
	ctx := t.Context()
	t.Run("no token", func(t *testing.T) {
		_, err := mpcv1.NewAdminServiceClient(c.dialGRPC(t, "")).ListDevices(ctx, &mpcv1.ListDevicesRequest{})
		expectRPC(t, grpcErr(t, err), codes.Unauthenticated, "token")
	})
	t.Run("unknown curve", func(t *testing.T) {
		_, err := mpcv1.NewAdminServiceClient(c.dialGRPC(t, "admin.token")).CreateKey(ctx, &mpcv1.CreateKeyRequest{
			Curve: mpcv1.Curve(7), Threshold: 1, Devices: []string{"alice", "bob"},
		})
		expectRPC(t, grpcErr(t, err), codes.InvalidArgument, "curve")
	})
	signer := mpcv1.NewSignerServiceClient(c.dialGRPC(t, "signer.token"))
	t.Run("empty digest", func(t *testing.T) {
		_, err := signer.Sign(ctx, &mpcv1.SignRequest{KeyId: unknownKey})
		expectRPC(t, grpcErr(t, err), codes.InvalidArgument, "32 bytes")
	})
	t.Run("request id too long", func(t *testing.T) {
		_, err := signer.Sign(ctx, &mpcv1.SignRequest{KeyId: unknownKey, Digest: digestOf("x"), RequestId: strings.Repeat("r", 129)})
		expectRPC(t, grpcErr(t, err), codes.InvalidArgument, "request_id")
	})
	t.Run("empty key id", func(t *testing.T) {
		_, err := signer.Sign(ctx, &mpcv1.SignRequest{Digest: digestOf("x")})
		expectRPC(t, grpcErr(t, err), codes.InvalidArgument, "key_id")
	})
}

// checkPassphrase opens an enrolled, stopped device with 'party status':
// the right passphrase works, a wrong or missing one is a clear error that
// never echoes a passphrase.
func checkPassphrase(t *testing.T, c *cluster) {
	d := c.enroll(t, "frank", false)
	status := func(env []string) result {
		return c.runOnce(t, "party-status-frank", env, enrolTimeout, d.partyArgs("status", "--json")...)
	}
	if r := status(c.partyEnv(d)); r.code != 0 || !strings.Contains(r.stdout, `"name": "frank"`) {
		t.Fatalf("party status with the right passphrase: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	wrong := randomHex(t, 24)
	r := status(c.env("MPC_PASSPHRASE=" + wrong))
	if r.code != 1 || !strings.Contains(r.stderr, "wrong passphrase") {
		t.Errorf("party status with a wrong passphrase: exit %d, want 1 and 'wrong passphrase'\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, wrong) || strings.Contains(r.stdout+r.stderr, d.pass) {
		t.Errorf("party status printed a passphrase:\n%s", r.stderr)
	}
	r = status(c.env())
	if r.code != 1 || !strings.Contains(r.stderr, "MPC_PASSPHRASE") {
		t.Errorf("party status without a passphrase: exit %d, want 1 and a hint at MPC_PASSPHRASE\n%s", r.code, r.stderr)
	}
}
