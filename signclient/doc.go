// Package signclient is the client a wallet backend uses to ask the
// coordinator for signatures once the institution has a roster: every Sign
// call must then carry the signature of a requester key that the operators
// registered on the roster (mpcctl requesters create), over the call's exact
// content (package signreq). The devices, not the coordinator, check it.
//
// The requester key is any crypto.Signer holding an Ed25519 or an ECDSA
// P-256 private key: a cloud KMS or HSM key (for P-256 the signer is asked
// to sign a SHA-256 digest, which is what a KMS's "sign digest" call does),
// or a key file written by mpcctl requesters create (LoadKeyFile).
//
// Signing a digest with a KMS-held key:
//
//	var key crypto.Signer = kmsKey // Ed25519 or ECDSA P-256, registered on the roster
//	conn, err := signclient.Dial("coordinator.example:7400", signerToken, []string{fingerprint})
//	if err != nil {
//		return err
//	}
//	defer conn.Close()
//	c, err := signclient.New(conn, key)
//	if err != nil {
//		return err
//	}
//	resp, err := c.SignDigest(ctx, "k1", digest, "m/44/60/0/0/7")
//	// resp.GetSignatureRsv(): r || s || v, resp.GetSignatureDer(): DER
//
// Register the key's public key first, as PEM ("PUBLIC KEY", PKIX, which
// every KMS exports):
//
//	mpcctl requesters create wallet-eu --keys k1 --paths m/44/60/0/0 --public-key wallet-eu.pem
//
// # What a request carries
//
// Each Sign call is signed afresh: the key id, each digest (secp256k1 keys)
// or the SHA-256 of each message (Ed25519 keys), the derivation path, a
// request id, an expiry (Request.Lifetime from now, by default
// signreq.DefaultLifetime, at most signreq.MaxLifetime) and a random
// nonce. Several digests or messages in one Request are a batch: one call,
// signed once as a whole, whose response has one result per item.
//
// Every signing device verifies the signature against its own verified
// roster (an active requester), that the call matches what was signed, that
// the request has not expired (and expires at most 15 minutes ahead, give or
// take a minute of clock skew), that the request id was not used before by
// this requester for other content (a replay), and that the requester's
// grants (keys, paths, signatures per hour) allow it.
//
// The request id is the idempotency key: a retry of a call that may have
// reached the coordinator should use the same RequestID (and the same
// content); it then gets the first signature back instead of a second one.
// Left empty, each call gets a random id.
package signclient
