package party

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/tlspin"
	"github.com/mpcsign/mpcsign/keystore"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

func fingerprint(b byte) string { return strings.Repeat(string("0123456789abcdef"[b%16]), 64) }

// newTestAgent is an enrolled agent that never connects anywhere.
func newTestAgent(t *testing.T, dir string) (*Agent, *keystore.Store) {
	t.Helper()
	ks := openStore(t, dir)
	t.Cleanup(func() { ks.Close() })
	id, err := loadOrCreateIdentity(ks)
	if err != nil {
		t.Fatal(err)
	}
	if err := saveConfig(ks, Config{DeviceID: identity.DeviceID(id.PublicKey()), Name: "dev", Address: "127.0.0.1:1", Fingerprint: fingerprint(1)}); err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Store: ks})
	if err != nil {
		t.Fatal(err)
	}
	a.Pool().FixturesOnly() // it never generates
	return a, ks
}

func TestPinsAcrossRotation(t *testing.T) {
	a, ks := newTestAgent(t, t.TempDir())
	old, next, other := fingerprint(1), fingerprint(2), fingerprint(3)
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	// A malformed announcement changes nothing.
	a.learnNext(&mpcv1.NextCertificate{Fingerprint: "zz"})
	a.learnNext(nil)
	if got := a.pins(); len(got) != 1 || got[0] != old {
		t.Fatalf("pins %v", got)
	}
	// The announcement is pinned next to the current one, and persisted.
	a.learnNext(&mpcv1.NextCertificate{Fingerprint: strings.ToUpper(next), SwitchAt: timestamppb.New(at)})
	if got := a.pins(); len(got) != 2 || got[0] != old || got[1] != next {
		t.Fatalf("pins after the announcement %v", got)
	}
	stored, err := LoadConfig(ks)
	if err != nil || stored.NextFingerprint != next || !stored.NextSwitchAt.Equal(at) {
		t.Fatalf("stored config %+v %v", stored, err)
	}
	// Served the current certificate: nothing changes.
	a.servedCert(old)
	if got := a.pins(); len(got) != 2 {
		t.Fatalf("pins after a connection to the old certificate %v", got)
	}
	// Served the next one: it becomes the only pin.
	a.servedCert(next)
	if got := a.pins(); len(got) != 1 || got[0] != next {
		t.Fatalf("pins after the switch-over %v", got)
	}
	if stored, _ := LoadConfig(ks); stored.Fingerprint != next || stored.NextFingerprint != "" {
		t.Fatalf("stored config after the switch-over %+v", stored)
	}
	// Announcing the current certificate as the next one is a no-op.
	a.learnNext(&mpcv1.NextCertificate{Fingerprint: next})
	if got := a.pins(); len(got) != 1 {
		t.Fatalf("pins %v", got)
	}

	// A certificate no pin matches: the error says what to do.
	pe := &PinError{Address: "coord:7400", Served: other, Pinned: a.pins()}
	for _, want := range []string{other, "party repin --fingerprint " + other, "coordinator cert show", "do not re-pin"} {
		if !strings.Contains(pe.Error(), want) {
			t.Errorf("PinError lacks %q: %s", want, pe)
		}
	}
	if !errors.Is(pe, tlspin.ErrFingerprintMismatch) {
		t.Error("PinError is not ErrFingerprintMismatch")
	}

	// Repin replaces every pin.
	if _, _, err := Repin(ks, "not hex"); err == nil {
		t.Fatal("Repin accepted a malformed fingerprint")
	}
	was, now, err := Repin(ks, other)
	if err != nil || was.Fingerprint != next || now.Fingerprint != other || now.NextFingerprint != "" {
		t.Fatalf("Repin: %+v %+v %v", was, now, err)
	}
}

// fakeLink is a link to no coordinator: the test reads what the device sends.
func fakeLink(t *testing.T, a *Agent) *partyLink {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	l := &partyLink{agent: a, ctx: ctx, out: make(chan *mpcv1.ConnectRequest, 64), sessions: map[string]*runningSession{}, bySID: map[string]*runningSession{}}
	a.live.up(l)
	return l
}

// keygenStart asks a for a keygen with one other device; the session then
// waits for the other's join, so it runs until it is stopped.
func keygenStart(t *testing.T, a *Agent) *mpcv1.SessionStart {
	t.Helper()
	other, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	ref := make([]byte, 32)
	if _, err := rand.Read(ref); err != nil {
		t.Fatal(err)
	}
	return &mpcv1.SessionStart{
		Ref: ref, Kind: mpcv1.SessionKind_SESSION_KIND_KEYGEN, Curve: mpcv1.Curve_CURVE_SECP256K1, Threshold: 1, TimeoutMs: 600_000,
		Participants: []*mpcv1.Participant{
			{DeviceId: a.cfg.DeviceID, IdentityPublicKey: a.id.PublicKey()},
			{DeviceId: identity.DeviceID(other.PublicKey()), IdentityPublicKey: other.PublicKey()},
		},
	}
}

func nextSent(t *testing.T, l *partyLink) *mpcv1.ConnectRequest {
	t.Helper()
	select {
	case m := <-l.out:
		return m
	case <-time.After(time.Minute):
		t.Fatal("the device sent nothing")
		return nil
	}
}

func TestDrainLetsSessionsFinish(t *testing.T) {
	a, _ := newTestAgent(t, t.TempDir())
	l := fakeLink(t, a)
	st := keygenStart(t, a)
	l.start(st)
	if r := nextSent(t, l).GetReply(); !r.GetAccepted() {
		t.Fatalf("keygen refused: %s", r.GetReason())
	}
	status, err := a.Status()
	if err != nil || len(status.Sessions) != 1 || status.Sessions[0].Kind != "keygen" || !status.Connected || status.Draining {
		t.Fatalf("status with a session: %+v %v", status, err)
	}

	drained := make(chan int, 1)
	go func() { drained <- a.Drain(time.Hour) }()
	for draining, _ := a.work.state(); !draining; draining, _ = a.work.state() {
		time.Sleep(time.Millisecond)
	}
	// A new session is refused with the reason, and not as a policy refusal.
	l.start(keygenStart(t, a))
	r := nextSent(t, l).GetReply()
	if r.GetAccepted() || r.GetReason() != drainingReason || r.GetPolicyRefusal() || !r.GetShuttingDown() {
		t.Fatalf("a session during the drain: %+v", r)
	}
	if s, _ := a.Status(); !s.Draining || len(s.Sessions) != 1 {
		t.Fatalf("status while draining: %+v", s)
	}
	// The running session ends (here: the coordinator aborts it): the drain is over.
	l.handle(&mpcv1.ConnectResponse{Msg: &mpcv1.ConnectResponse_Abort{Abort: &mpcv1.SessionAbort{Ref: st.GetRef()}}})
	if f := nextSent(t, l).GetFailure(); f.GetReason() != "aborted by the coordinator" {
		t.Fatalf("the aborted session reported %+v", f)
	}
	if n := <-drained; n != 0 {
		t.Fatalf("Drain aborted %d sessions, want 0", n)
	}
}

func TestDrainBoundAbortsSessions(t *testing.T) {
	a, _ := newTestAgent(t, t.TempDir())
	l := fakeLink(t, a)
	st := keygenStart(t, a)
	l.start(st)
	if r := nextSent(t, l).GetReply(); !r.GetAccepted() {
		t.Fatalf("keygen refused: %s", r.GetReason())
	}
	drained := make(chan int, 1)
	go func() { drained <- a.Drain(10 * time.Millisecond) }()
	f := nextSent(t, l).GetFailure() // read as the coordinator would, while Drain flushes
	if n := <-drained; n != 1 {
		t.Fatalf("Drain aborted %d sessions, want 1", n)
	}
	if f == nil || string(f.GetRef()) != string(st.GetRef()) || f.GetReason() != abortedReason || len(f.GetCulprits()) != 0 {
		t.Fatalf("the aborted session reported %+v", f)
	}
	if s, _ := a.Status(); len(s.Sessions) != 0 {
		t.Fatalf("sessions after the drain: %+v", s.Sessions)
	}
}

func TestStatusSocket(t *testing.T) {
	dir := t.TempDir()
	a, _ := newTestAgent(t, dir)
	ctx := context.Background()
	if _, err := QueryStatus(ctx, dir); !errors.Is(err, ErrAgentNotRunning) {
		t.Fatalf("no agent: %v", err)
	}
	// A socket file left by a crashed agent is replaced.
	if err := os.WriteFile(filepath.Join(dir, StatusSocket), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	lis, err := ListenStatus(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, StatusSocket)); err != nil || st.Mode().Perm() != 0o600 || st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket file: %v %v", st.Mode(), err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan struct{})
	go func() { defer close(served); a.ServeStatus(sctx, lis) }()

	a.live.down(errors.New("dial tcp: connection refused"), false)
	st, err := QueryStatus(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Device.Name != "dev" || st.Connected || !strings.Contains(st.LastError, "connection refused") || st.LastErrorAt.IsZero() || st.PreparamsTarget != 2 {
		t.Fatalf("status %+v", st)
	}
	l := fakeLink(t, a)
	l.start(keygenStart(t, a))
	nextSent(t, l)
	st, err = QueryStatus(ctx, dir)
	if err != nil || !st.Connected || st.ConnectedSince.IsZero() || len(st.Sessions) != 1 {
		t.Fatalf("status with a link and a session: %+v %v", st, err)
	}
	stop()
	<-served
	if _, err := QueryStatus(ctx, dir); !errors.Is(err, ErrAgentNotRunning) {
		t.Fatalf("after the agent stopped: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, StatusSocket)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file left behind: %v", err)
	}
	l.abortAll("test over")
	if f := nextSent(t, l).GetFailure(); f.GetReason() != "test over" {
		t.Fatalf("the stopped session reported %+v", f)
	}
}
