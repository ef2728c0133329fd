package roster

import "errors"

// Errors. Each names one failed check; wrapped errors add which entry, key or
// device. Match them with errors.Is.
var (
	ErrMalformed       = errors.New("roster: malformed entry")
	ErrBadSignature    = errors.New("roster: a signature does not verify")
	ErrUnknownSigner   = errors.New("roster: signed by a key that is not an operator (or an active device, where allowed)")
	ErrQuorum          = errors.New("roster: not enough operator signatures for the quorum")
	ErrChain           = errors.New("roster: entry does not extend the chain (wrong height or previous hash)")
	ErrGenesisMismatch = errors.New("roster: the chain does not start at the pinned genesis")
	ErrFork            = errors.New("roster: the chain forks from the one this device has verified")
	ErrRollback        = errors.New("roster: the chain is shorter than the one this device has verified (rolled back)")
	ErrRule            = errors.New("roster: entry breaks a membership rule")
	ErrNotActive       = errors.New("roster: device is not active on the roster")
	ErrExpired         = errors.New("roster: authorization is outside its validity window")
	ErrWrongGenesis    = errors.New("roster: authorization is for another roster")
)
