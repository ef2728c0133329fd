// Package partyid builds a device's tss-lib party id for one share epoch:
// the derivation every member of a session and the coordinator's blame judge
// must agree on. It lives apart from internal/identity so that a client that
// only checks identities (the operator's CLI) links no tss-lib.
package partyid

import (
	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/mpcsign/mpcsign/internal/identity"
)

// New is the tss-lib PartyID of device deviceID, whose identity public key
// (or, for a share restored from another device's backup, the identity its
// party key derives from) is pub, for share epoch epoch. Its Id is the
// device id; its key is identity.PartyKey on secp256k1's order.
func New(deviceID string, pub []byte, epoch uint64) *tss.PartyID {
	return tss.NewPartyID(deviceID, deviceID, identity.PartyKey(pub, epoch, tss.S256().Params().N))
}
