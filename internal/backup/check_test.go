package backup

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestHeaderCheck(t *testing.T) {
	t.Parallel()
	file, m := sealed(t, 6)
	h, _, err := Open(file, m)
	if err != nil {
		t.Fatal(err)
	}
	otherPub := bytes.Clone(h.PublicKey)
	otherPub[5] ^= 1
	tests := []struct {
		name string
		want Expect
		err  error
		text string
	}{
		{"current", Expect{KeyID: h.KeyID, Epoch: 3}, nil, ""},
		{"current, all fields", Expect{KeyID: h.KeyID, Epoch: 3, PublicKey: h.PublicKey, DeviceID: "dev-b"}, nil, ""},
		{"retired epoch", Expect{KeyID: h.KeyID, Epoch: 4}, ErrRetiredEpoch, "epoch 3, but key k0123456789abcdef0123 is now at epoch 4"},
		{"newer than current", Expect{KeyID: h.KeyID, Epoch: 2}, ErrUnknownEpoch, "epoch 3"},
		{"other key", Expect{KeyID: "kffff", Epoch: 3}, ErrOtherKey, "not kffff"},
		{"other public key", Expect{KeyID: h.KeyID, Epoch: 3, PublicKey: otherPub}, ErrOtherKey, "public key"},
		{"other device", Expect{KeyID: h.KeyID, Epoch: 3, DeviceID: "dev-a"}, ErrOtherDevice, "device dev-b, not dev-a"},
		{"other key beats retired epoch", Expect{KeyID: "kffff", Epoch: 9}, ErrOtherKey, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.Check(tt.want)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("%v, want %v", err, tt.err)
			}
			if err != nil && !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("message %q lacks %q", err, tt.text)
			}
		})
	}
}

// TestStaleBackupRefusedBeforeWords is the restore flow: the header of a
// backup made before a reshare is read without the words and refused.
func TestStaleBackupRefusedBeforeWords(t *testing.T) {
	t.Parallel()
	file, _ := sealed(t, 7)
	h, err := ReadHeader(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Check(Expect{KeyID: h.KeyID, Epoch: h.Epoch + 1}); !errors.Is(err, ErrRetiredEpoch) {
		t.Fatalf("%v", err)
	}
	// Rewriting the epoch in the clear header gets past ReadHeader but not Open.
	forged := editHeader(t, file, func(s string) string { return strings.Replace(s, `"epoch":3`, `"epoch":4`, 1) })
	fh, err := ReadHeader(forged)
	if err != nil || fh.Check(Expect{KeyID: h.KeyID, Epoch: 4}) != nil {
		t.Fatalf("forged header: %v", err)
	}
	_, m := sealed(t, 7)
	if _, _, err := Open(forged, m); !errors.Is(err, ErrTampered) {
		t.Fatalf("Open of forged epoch: %v", err)
	}
}
