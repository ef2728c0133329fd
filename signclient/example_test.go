package signclient_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"log"

	"github.com/mpcsign/mpcsign/signclient"
)

// kmsKey stands in for a key held by a cloud KMS or an HSM: any
// crypto.Signer of an Ed25519 or ECDSA P-256 key (for P-256 it is asked to
// sign a SHA-256 digest, as a KMS's "sign digest" call does).
func kmsKey() crypto.Signer {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return k
}

// Signing a digest at a derivation path with a KMS-held requester key,
// registered first with 'mpcctl requesters create wallet-eu --keys k1
// --public-key wallet-eu.pem'.
func Example() {
	signerToken, fingerprint := "<signer token>", "<coordinator certificate SHA-256>"

	conn, err := signclient.Dial("coordinator.example:7400", signerToken, []string{fingerprint})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	c, err := signclient.New(conn, kmsKey())
	if err != nil {
		log.Fatal(err)
	}
	digest := sha256.Sum256([]byte("the transaction to sign"))
	resp, err := c.SignDigest(context.Background(), "k1", digest[:], "m/44/60/0/0/7")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("r||s||v: %x\n", resp.GetSignatureRsv())
}
