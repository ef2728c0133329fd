package coordinator_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/mpcsign/mpcsign/internal/coordclient"
	"github.com/mpcsign/mpcsign/internal/tlspin"
	"github.com/mpcsign/mpcsign/party"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// testClock is a clock the test moves forward.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// waitUntil polls cond until it holds (bounded: a stuck test fails).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pinnedCall lists devices over a new connection that pins only pins.
func pinnedCall(c *testkit.Cluster, token string, pins ...string) error {
	cfg, err := tlspin.ClientConfig(pins...)
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(c.Addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)), grpc.WithPerRPCCredentials(bearerToken(token)))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = mpcv1.NewAdminServiceClient(conn).ListDevices(ctx, &mpcv1.ListDevicesRequest{})
	return err
}

type bearerToken string

func (b bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearerToken) RequireTransportSecurity() bool { return true }

func readClientJSON(t *testing.T, c *testkit.Cluster) coordclient.ClientConfig {
	t.Helper()
	var cc coordclient.ClientConfig
	b, err := os.ReadFile(filepath.Join(c.Dir, "coordinator", "client.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cc); err != nil {
		t.Fatal(err)
	}
	return cc
}

// TestCertificateRotation rotates the coordinator's certificate with a
// connected device, a device that connects during the grace period and one
// that stays offline through it. The switch-over happens by the
// coordinator's clock, which the test moves.
func TestCertificateRotation(t *testing.T) {
	clock := &testClock{now: time.Now()}
	c := testkit.New(t, testkit.Options{Now: clock.Now, SignTimeout: 2 * time.Minute})
	ctx := context.Background()
	alpha := c.AddDevice(t, "alpha", testkit.FixtureSets(t, 1)[:1])
	beta := c.AddDevice(t, "beta", testkit.FixtureSets(t, 2)[:1])
	gamma := c.AddDevice(t, "gamma", nil)
	key := c.CreateKey(t, 1, "alpha", "beta")
	c.StopDevice(t, "gamma") // offline through the whole rotation
	c.StopDevice(t, "beta")  // connects during the grace period
	admin := c.Token(t, "admin")

	oldFP := c.Server.Fingerprint()
	rot, err := tlspin.Rotate(filepath.Join(c.Dir, "coordinator"), clock.Now().Add(time.Hour), clock.Now(), false)
	if err != nil {
		t.Fatal(err)
	}
	newFP := rot.NextFingerprint()
	if err := c.Server.ReloadCertificates(); err != nil {
		t.Fatal(err)
	}
	if next, _ := c.Server.NextFingerprint(); next != newFP || c.Server.Fingerprint() != oldFP {
		t.Fatalf("server: current %s next %s", c.Server.Fingerprint(), next)
	}
	if cc := readClientJSON(t, c); cc.Fingerprint != oldFP || cc.NextFingerprint != newFP || cc.SwitchAt.IsZero() {
		t.Fatalf("client.json during the grace period: %+v", cc)
	}

	// The connected device is told at once; the other when it connects.
	waitUntil(t, "alpha learning the next pin", func() bool { return alpha.Agent.Config().NextFingerprint == newFP })
	c.RestartDevice(t, "beta")
	waitUntil(t, "beta learning the next pin", func() bool { return beta.Agent.Config().NextFingerprint == newFP })
	if cfg := alpha.Agent.Config(); cfg.Fingerprint != oldFP {
		t.Fatalf("alpha dropped its pin before the switch-over: %+v", cfg)
	}

	// During the grace period the old certificate is served: clients pinning
	// only the old one, or both, work; only the new one does not yet.
	if err := pinnedCall(c, admin, oldFP); err != nil {
		t.Fatalf("old pin during the grace period: %v", err)
	}
	if err := pinnedCall(c, admin, oldFP, newFP); err != nil {
		t.Fatalf("both pins during the grace period: %v", err)
	}
	if err := pinnedCall(c, admin, newFP); err == nil {
		t.Fatal("the new certificate was served before the switch-over")
	}

	// Switch-over.
	clock.advance(time.Hour)
	if c.Server.Fingerprint() != newFP {
		t.Fatalf("after the switch-over the coordinator serves %s", c.Server.Fingerprint())
	}
	if err := pinnedCall(c, admin, oldFP, newFP); err != nil {
		t.Fatalf("both pins after the switch-over: %v", err)
	}
	if err := pinnedCall(c, admin, oldFP); err == nil {
		t.Fatal("the old certificate is still served after the switch-over")
	}
	if cc := readClientJSON(t, c); cc.Fingerprint != newFP || cc.NextFingerprint != "" {
		t.Fatalf("client.json after the switch-over: %+v", cc)
	}

	// The devices reconnect to the new certificate and drop the old pin.
	for name, d := range map[string]*testkit.Device{"alpha": alpha, "beta": beta} {
		c.StopDevice(t, name)
		c.RestartDevice(t, name) // the same Device, with a new agent
		waitUntil(t, name+" pinning only the new certificate", func() bool {
			cfg := d.Agent.Config()
			return cfg.Fingerprint == newFP && cfg.NextFingerprint == ""
		})
	}
	dg := digest("signed after the certificate rotation")
	resp, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: dg})
	if err != nil {
		t.Fatalf("sign after the rotation: %v", err)
	}
	verify(t, key.GetPublicKey(), dg, resp)

	// The device that missed the rotation cannot connect, and says why.
	a, err := party.New(party.Options{Store: gamma.Store, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	a.Pool().FixturesOnly() // it never generates
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	var lastErr string
	waitUntil(t, "gamma reporting the certificate change", func() bool {
		st, err := a.Status()
		lastErr = st.LastError
		return err == nil && st.LastError != ""
	})
	stop()
	if err := <-done; err != nil {
		t.Fatalf("gamma's agent: %v", err)
	}
	for _, want := range []string{"presents TLS certificate " + newFP, "party repin --fingerprint " + newFP, "coordinator cert show"} {
		if !strings.Contains(lastErr, want) {
			t.Errorf("gamma's error lacks %q: %s", want, lastErr)
		}
	}
	// Re-pinned by its operator, it connects again.
	if _, _, err := party.Repin(gamma.Store, newFP); err != nil {
		t.Fatal(err)
	}
	c.RestartDevice(t, "gamma")
}
