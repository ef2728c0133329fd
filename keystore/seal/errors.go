package seal

import "errors"

// Sentinel errors, shared with package keystore (keystore.ErrWrongPassphrase
// and the others are the same values). Test for them with errors.Is: the
// returned errors often wrap them with context. Their texts say "keystore"
// for compatibility.
var (
	// ErrWrongPassphrase is returned when a passphrase does not open what it
	// is asked to open.
	ErrWrongPassphrase = errors.New("keystore: wrong passphrase")
	// ErrTampered is returned for a sealed blob (or a store record) that is
	// malformed or fails authentication.
	ErrTampered = errors.New("keystore: record failed authentication (tampered or moved)")
	// ErrNoPassphrase is returned for an empty passphrase, and by
	// LoadPassphrase when there is none to load.
	ErrNoPassphrase = errors.New("keystore: no passphrase: set MPC_PASSPHRASE or use --passphrase-file")
)
