package registry

import (
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/mpcsign/mpcsign/internal/auditlog"
)

// TestEnrolmentWithoutItsEntryIsNotWritten: when the enrolment's audit
// entry cannot be sealed (here: an unreadable chain head), neither the
// device nor the used code is written - an enrolled device is never
// without its entry.
func TestEnrolmentWithoutItsEntryIsNotWritten(t *testing.T) {
	st, err := OpenBadger(t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreatePairing([]byte("c1"), Pairing{Name: "phone", ExpiresAt: time.Now().Add(time.Minute)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.(*badgerStore).db.Update(func(txn *badger.Txn) error {
		return txn.Set([]byte(auditHead), []byte("not an entry"))
	}); err != nil {
		t.Fatal(err)
	}
	e := &auditlog.Entry{Action: "device.enroll", Result: "ok", Time: time.Now().UTC()}
	_, err = st.EnrollDevice([]byte("c1"), func(p *Pairing, _ bool, _ func(string) (Device, bool, error)) (*Device, error) {
		p.Used = true
		return &Device{ID: "d1", Name: "phone", Status: DeviceActive}, nil
	}, e)
	if err == nil {
		t.Fatal("an enrolment whose audit entry could not be sealed succeeded")
	}
	if _, err := st.GetDevice("d1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the device was written without its audit entry: %v", err)
	}
	if ps, err := st.ListPairings(); err != nil || len(ps) != 1 || ps[0].Used {
		t.Fatalf("the code was used up without the enrolment's entry: %+v %v", ps, err)
	}
}
