// Package signreq is the format of a wallet backend's signed Sign request,
// and its checks. A requester (a wallet backend) holds a private key,
// Ed25519 or ECDSA P-256, that the operators registered on the roster
// (roster.Requester). It signs the exact content of each Sign call; the
// coordinator, which is assumed hostile, passes the signed request through
// unchanged; every signing device verifies it against its own verified
// roster before it approves, and applies its policy to the requester it
// names. So a compromised coordinator cannot make a device sign a digest,
// message, key or path that no registered requester asked for.
//
// # Body
//
// The body is canonical JSON in the roster's rules (see package roster: the
// encoding/json encoding of Body, fields in order, no whitespace, nothing
// else accepted), at most MaxBodySize bytes:
//
//	{"v":1,"requester":"<32 hex>","key_id":"k1","kind":"digest",
//	 "items":["<64 hex>"],"path":"m/44/60/0/0/7","request_id":"pay-1",
//	 "expires":1700000600,"nonce":"<32 hex>"}
//
// (one line, without the break). The fields:
//
//	v           1
//	requester   the requester's id (roster.RequesterID of its key)
//	key_id      the key to sign with
//	kind        "digest": items are secp256k1 digests; "message": items are
//	            SHA-256 of each Ed25519 message (the device hashes the
//	            message it is given and compares)
//	items       1 to MaxItems lowercase hex 32-byte values; a batch is one
//	            request, each of its sessions signs one item
//	path        optional BIP32 path in canonical form (not "m")
//	request_id  1 to 128 bytes of printable UTF-8: the requester's
//	            idempotency key, unique per requester
//	expires     unix seconds; a device refuses a request past it, or one
//	            that expires more than MaxLifetime from its clock
//	nonce       32 lowercase hex (16 random bytes)
//
// # Signature
//
// The request hash is SHA-256("mpcsign/v1/sign-request\x00" || body). An
// Ed25519 requester signs the 32-byte hash as its message (RFC 8032, pure);
// a P-256 requester signs the hash as a SHA-256 digest (ASN.1 DER), which
// is what a KMS's "sign digest" call does.
//
// # What a device checks
//
// Verify: the body's encoding, an active requester on the device's roster,
// and the signature. Check: the session's key, path and item equal the
// body's; the requester's grants allow the key and path; the clock is
// within [expires - MaxLifetime - ClockSkew, expires + ClockSkew]. The
// device then refuses a request id of the same requester that it saw
// with other content (ContentHash: key, kind, items, path; a replay), and
// counts the signature against its limits when it approves it, once per
// item: a retry of the same request, even signed afresh with a new nonce
// and expiry, is neither refused nor counted twice.
package signreq
