package coordclient

import "errors"

// ErrSASMismatch refuses to approve a device whose short authentication
// string is not the one expected: the coordinator returns it for a
// coordinator-made code, mpcctl for one it made itself, with the same text.
var ErrSASMismatch = errors.New("the short authentication string does not match: do not approve this device, it may not be the one you paired")
