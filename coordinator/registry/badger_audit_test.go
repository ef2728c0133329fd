package registry

import (
	"errors"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/internal/auditlog"
)

// Actions and their audit entries are one transaction: both are written,
// or (when the action is refused) neither.
func TestActionsSealTheirAuditEntry(t *testing.T) {
	st := openTestStore(t)
	now := time.Now()
	height := func() uint64 {
		h, err := st.AuditHeight()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	entry := func(action string) *auditlog.Entry {
		return &auditlog.Entry{Action: action, Result: "ok", Time: now}
	}
	refused := errors.New("refused")
	steps := []struct {
		name   string
		do     func(e *auditlog.Entry) error
		sealed bool
	}{
		{"pairing", func(e *auditlog.Entry) error {
			return st.CreatePairing([]byte("p"), Pairing{Name: "phone", SecretHash: sh([]byte("p")), ExpiresAt: now.Add(time.Minute)}, e)
		}, true},
		{"key", func(e *auditlog.Entry) error { return st.PutKey(Key{ID: "k1", Curve: CurveSecp256k1}, e) }, true},
		{"token", func(e *auditlog.Entry) error { return st.PutToken([]byte("h"), Token{ID: "t1", Role: RoleSigner}, e) }, true},
		{"token refused", func(e *auditlog.Entry) error {
			_, err := st.UpdateToken("t1", func(*Token, []Token) error { return refused }, e)
			return err
		}, false},
		{"token revoked", func(e *auditlog.Entry) error {
			_, err := st.UpdateToken("t1", func(t *Token, _ []Token) error { t.Revoked = true; return nil }, e)
			return err
		}, true},
	}
	for _, s := range steps {
		before := height()
		e := entry(s.name)
		err := s.do(e)
		if s.sealed != (err == nil) {
			t.Fatalf("%s: %v", s.name, err)
		}
		want := before
		if s.sealed {
			want++
			if e.Seq != want || e.Hash == "" {
				t.Fatalf("%s: the entry was not sealed in place: %+v", s.name, e)
			}
		}
		if got := height(); got != want {
			t.Fatalf("%s: audit height %d, want %d", s.name, got, want)
		}
	}
	if tok, err := st.ListTokens(); err != nil || len(tok) != 1 || !tok[0].Revoked {
		t.Fatalf("tokens: %+v %v", tok, err)
	}
	// A device update refused by its function writes neither.
	before := height()
	if _, err := st.UpdateDevice("missing", func(*Device) error { return nil }, entry("device")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of a missing device: %v", err)
	}
	if height() != before {
		t.Fatal("a refused device update left an audit entry")
	}
}
