package coordinator

import (
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

// The pairing code's rules (enrolment), applied through a real store: a code
// is used once, expires, and burns after MaxPairingAttempts wrong secrets;
// a failed enrolment leaves it usable; the same key enrolling again gets its
// record back.
func TestEnrolmentRules(t *testing.T) {
	st, err := OpenBadgerStore(t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	sh := func(id string) []byte { return []byte("secret of " + id) }
	proof := func(hash []byte) func(Pairing) bool {
		return func(p Pairing) bool { return string(p.SecretHash) == string(hash) }
	}
	mk := func(id string) func(Pairing) (Device, error) {
		return func(p Pairing) (Device, error) {
			return Device{ID: id, Name: p.Name, Status: DeviceActive, IdentityPublicKey: []byte("key of " + id)}, nil
		}
	}
	code := func(id, name string, expires time.Time) {
		t.Helper()
		if err := st.CreatePairing([]byte(id), Pairing{SecretHash: sh(id), Name: name, ExpiresAt: expires}, nil); err != nil {
			t.Fatal(err)
		}
	}
	enrol := func(id string, secret []byte, dev func(Pairing) (Device, error)) (Device, error) {
		return st.EnrollDevice([]byte(id), enrolment(now, proof(secret), dev), nil)
	}

	code("h1", "phone", now.Add(time.Minute))
	s := &Server{store: st, opts: Options{Now: func() time.Time { return now }}}
	if pending, err := s.pendingPairing("phone"); err != nil || !pending {
		t.Fatalf("an unused code must hold its name: %v %v", pending, err)
	}
	if d, err := enrol("h1", sh("h1"), mk("d1")); err != nil || d.Name != "phone" {
		t.Fatalf("enrol: %v %v", d, err)
	}
	if pending, _ := s.pendingPairing("phone"); pending {
		t.Fatal("a used code still holds its name")
	}
	if _, err := enrol("h1", sh("h1"), mk("d2")); !errors.Is(err, ErrPairingUsed) {
		t.Fatalf("second use: %v", err)
	}
	if _, err := enrol("nope", sh("nope"), mk("d3")); !errors.Is(err, ErrPairingInvalid) {
		t.Fatalf("unknown code: %v", err)
	}
	// Wrong secrets count against a code; the third burns it for good.
	code("h5", "watch", now.Add(time.Minute))
	for i, want := range []error{ErrPairingInvalid, ErrPairingInvalid, ErrPairingBurned, ErrPairingBurned} {
		if _, err := enrol("h5", []byte("guess"), mk("d6")); !errors.Is(err, want) {
			t.Fatalf("wrong secret %d: %v, want %v", i+1, err, want)
		}
	}
	if _, err := enrol("h5", sh("h5"), mk("d6")); !errors.Is(err, ErrPairingBurned) {
		t.Fatalf("right secret after the code burned: %v", err)
	}
	code("h2", "laptop", now.Add(-time.Second))
	if pending, _ := s.pendingPairing("laptop"); pending {
		t.Fatal("an expired code still holds its name")
	}
	if _, err := enrol("h2", sh("h2"), mk("d4")); !errors.Is(err, ErrPairingExpired) {
		t.Fatalf("expired code: %v", err)
	}
	// A failed enrolment (here: the device exists with another key) leaves
	// the code unused.
	code("h3", "tablet", now.Add(time.Minute))
	otherKey := func(p Pairing) (Device, error) {
		return Device{ID: "d1", Name: p.Name, Status: DeviceActive, IdentityPublicKey: []byte("another key")}, nil
	}
	if _, err := enrol("h3", sh("h3"), otherKey); !errors.Is(err, ErrDeviceExists) {
		t.Fatalf("existing device id with another key: %v", err)
	}
	if _, err := enrol("h3", sh("h3"), mk("d5")); err != nil {
		t.Fatalf("the code should still work after a failed attempt: %v", err)
	}
	// The same key enrolling again (a device that crashed before it stored
	// its enrolment) gets its existing record back.
	code("h4", "phone-again", now.Add(time.Minute))
	again, err := enrol("h4", sh("h4"), mk("d1"))
	if err != nil || again.ID != "d1" || again.Name != "phone" {
		t.Fatalf("re-enrolment of the same key: %+v %v", again, err)
	}
}
