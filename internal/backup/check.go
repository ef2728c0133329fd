package backup

import (
	"bytes"
	"fmt"
)

// Expect is what the caller knows about the key being restored, from the
// coordinator: the key's id and current epoch, and optionally its public key
// and the device whose share is being restored.
type Expect struct {
	KeyID string
	// Epoch is the key's current (committed) epoch.
	Epoch uint64
	// PublicKey, when set, must equal the header's.
	PublicKey []byte
	// DeviceID, when set, must equal the header's (the device the share
	// belonged to, not the new device).
	DeviceID string
}

// Check refuses a backup of another key or device (ErrOtherKey,
// ErrOtherDevice), of an epoch retired by a reshare (ErrRetiredEpoch) or of an
// epoch newer than the key's current one (ErrUnknownEpoch).
func (h Header) Check(want Expect) error {
	if h.KeyID != want.KeyID {
		return fmt.Errorf("%w: this backup is of key %s, not %s", ErrOtherKey, h.KeyID, want.KeyID)
	}
	if want.PublicKey != nil && !bytes.Equal(h.PublicKey, want.PublicKey) {
		return fmt.Errorf("%w: the public key in this backup is not the public key of key %s", ErrOtherKey, want.KeyID)
	}
	if want.DeviceID != "" && h.DeviceID != want.DeviceID {
		return fmt.Errorf("%w: this backup holds the share of device %s, not %s", ErrOtherDevice, h.DeviceID, want.DeviceID)
	}
	switch {
	case h.Epoch < want.Epoch:
		return fmt.Errorf("%w: this backup holds the share of epoch %d, but key %s is now at epoch %d; "+
			"that share no longer signs and cannot be restored (make a new backup after each reshare, "+
			"or replace the device by a reshare from the remaining holders)", ErrRetiredEpoch, h.Epoch, h.KeyID, want.Epoch)
	case h.Epoch > want.Epoch:
		return fmt.Errorf("%w: this backup is of epoch %d, but key %s is at epoch %d", ErrUnknownEpoch, h.Epoch, h.KeyID, want.Epoch)
	}
	return nil
}
