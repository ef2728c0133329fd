package registry

import (
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

func openTestStore(t *testing.T) Store {
	t.Helper()
	st, err := OpenBadger(t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// sh stands for the hash of a pairing code's secret.
func sh(id []byte) []byte { return append([]byte("secret of "), id...) }

func TestEnrollConsumesPairingOnce(t *testing.T) {
	st := openTestStore(t)
	now := time.Now()
	hash := []byte("h1")
	if err := st.CreatePairing(hash, Pairing{SecretHash: sh(hash), Name: "phone", ExpiresAt: now.Add(time.Minute)}, nil); err != nil {
		t.Fatal(err)
	}
	if pending, err := st.PendingPairing("phone", now); err != nil || !pending {
		t.Fatalf("an unused code must hold its name: %v %v", pending, err)
	}
	if pending, _ := st.PendingPairing("phone", now.Add(2*time.Minute)); pending {
		t.Fatal("an expired code still holds its name")
	}
	mk := func(id string) func(Pairing) (Device, error) {
		return func(p Pairing) (Device, error) {
			return Device{ID: id, Name: p.Name, Status: DeviceActive, IdentityPublicKey: []byte("key of " + id)}, nil
		}
	}
	d, err := st.EnrollDevice(hash, now, secretProof(sh(hash)), mk("d1"))
	if err != nil || d.Name != "phone" {
		t.Fatalf("enrol: %v %v", d, err)
	}
	if pending, _ := st.PendingPairing("phone", now); pending {
		t.Fatal("a used code still holds its name")
	}
	if _, err := st.EnrollDevice(hash, now, secretProof(sh(hash)), mk("d2")); !errors.Is(err, ErrPairingUsed) {
		t.Fatalf("second use: %v", err)
	}
	if _, err := st.EnrollDevice([]byte("nope"), now, secretProof(sh([]byte("nope"))), mk("d3")); !errors.Is(err, ErrPairingInvalid) {
		t.Fatalf("unknown code: %v", err)
	}
	// Wrong secrets count against a code; the third burns it for good.
	if err := st.CreatePairing([]byte("h5"), Pairing{SecretHash: sh([]byte("h5")), Name: "watch", ExpiresAt: now.Add(time.Minute)}, nil); err != nil {
		t.Fatal(err)
	}
	for i, want := range []error{ErrPairingInvalid, ErrPairingInvalid, ErrPairingBurned, ErrPairingBurned} {
		if _, err := st.EnrollDevice([]byte("h5"), now, secretProof([]byte("guess")), mk("d6")); !errors.Is(err, want) {
			t.Fatalf("wrong secret %d: %v, want %v", i+1, err, want)
		}
	}
	if _, err := st.EnrollDevice([]byte("h5"), now, secretProof(sh([]byte("h5"))), mk("d6")); !errors.Is(err, ErrPairingBurned) {
		t.Fatalf("right secret after the code burned: %v", err)
	}
	if err := st.CreatePairing([]byte("h2"), Pairing{SecretHash: sh([]byte("h2")), Name: "laptop", ExpiresAt: now.Add(-time.Second)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnrollDevice([]byte("h2"), now, secretProof(sh([]byte("h2"))), mk("d4")); !errors.Is(err, ErrPairingExpired) {
		t.Fatalf("expired code: %v", err)
	}
	// A failed enrolment (here: the device exists) leaves the code unused.
	if err := st.CreatePairing([]byte("h3"), Pairing{SecretHash: sh([]byte("h3")), Name: "tablet", ExpiresAt: now.Add(time.Minute)}, nil); err != nil {
		t.Fatal(err)
	}
	otherKey := func(p Pairing) (Device, error) {
		return Device{ID: "d1", Name: p.Name, Status: DeviceActive, IdentityPublicKey: []byte("another key")}, nil
	}
	if _, err := st.EnrollDevice([]byte("h3"), now, secretProof(sh([]byte("h3"))), otherKey); !errors.Is(err, ErrDeviceExists) {
		t.Fatalf("existing device id with another key: %v", err)
	}
	if _, err := st.EnrollDevice([]byte("h3"), now, secretProof(sh([]byte("h3"))), mk("d5")); err != nil {
		t.Fatalf("code should still work after a failed attempt: %v", err)
	}
	// The same key enrolling again (a device that crashed before it stored
	// its enrolment) gets its existing record back.
	if err := st.CreatePairing([]byte("h4"), Pairing{SecretHash: sh([]byte("h4")), Name: "phone-again", ExpiresAt: now.Add(time.Minute)}, nil); err != nil {
		t.Fatal(err)
	}
	again, err := st.EnrollDevice([]byte("h4"), now, secretProof(sh([]byte("h4"))), mk("d1"))
	if err != nil || again.ID != "d1" || again.Name != "phone" {
		t.Fatalf("re-enrolment of the same key: %+v %v", again, err)
	}
}

func TestUpdateDeviceAndSessions(t *testing.T) {
	st := openTestStore(t)
	now := time.Now()
	if err := st.CreatePairing([]byte("h"), Pairing{SecretHash: sh([]byte("h")), Name: "a", ExpiresAt: now.Add(time.Minute)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnrollDevice([]byte("h"), now, secretProof(sh([]byte("h"))), func(p Pairing) (Device, error) { return Device{ID: "d", Name: "a", Status: DeviceActive}, nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateDevice("d", func(d *Device) error { d.Status = DeviceRevoked; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateDevice("d", func(d *Device) error { d.LastSeen = now; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	d, err := st.GetDevice("d")
	if err != nil || d.Status != DeviceRevoked || d.LastSeen.IsZero() {
		t.Fatalf("a last-seen update must not undo a revocation: %+v %v", d, err)
	}
	if _, err := st.UpdateDevice("missing", func(*Device) error { return nil }, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing device: %v", err)
	}
	for i, id := range []string{"s2", "s1"} {
		if err := st.PutSession(SessionRecord{ID: id, Kind: "sign", Started: now.Add(time.Duration(-i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	ss, err := st.ListSessions()
	if err != nil || len(ss) != 2 || ss[0].ID != "s1" {
		t.Fatalf("sessions not listed in start order: %+v %v", ss, err)
	}
}

func TestPutSignResultFirstWins(t *testing.T) {
	st := openTestStore(t)
	first, err := st.PutSignResult("r", SignRecord{KeyID: "k", R: []byte{1}})
	if err != nil || first.R[0] != 1 {
		t.Fatal(err)
	}
	second, err := st.PutSignResult("r", SignRecord{KeyID: "k", R: []byte{2}})
	if err != nil || second.R[0] != 1 {
		t.Fatalf("second write replaced the first: %+v %v", second, err)
	}
}

// secretProof is the check of a coordinator-made code: the hash of the
// secret the device showed.
func secretProof(hash []byte) func(Pairing) bool {
	return func(p Pairing) bool { return string(p.SecretHash) == string(hash) }
}
