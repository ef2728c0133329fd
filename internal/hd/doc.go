// Package hd derives child keys of a threshold secp256k1 key by BIP32
// public (non-hardened) derivation.
//
// A BIP32 public step from (K, c) to child i computes
// I = HMAC-SHA512(c, serP(K) || ser32(i)), IL = I[:32], IR = I[32:], and the
// child (K + IL*G, IR). Over a path the child public key is therefore the
// root shifted by a public scalar:
//
//	child = root + Delta*G,   Delta = IL_1 + ... + IL_k mod n
//
// and the child private key is the root private key + Delta. The holders of
// the root's shares sign for the child without anyone learning a private key:
// each adds Delta to its share, which is what tss-lib's
// ecdsa/signing.NewLocalPartyWithKDD does with its keyDerivationDelta
// argument (see Derived.Delta). Hardened steps hash the parent private key,
// which no one holds for a threshold key, so ParsePath and Derive refuse them.
//
// # What an operator should take from additive derivation
//
// Linkability. The root public key and the chain code together are the
// key's extended public key: whoever has both computes every child public key
// (every address) and every Delta, and so can link all of them to each other
// and to the root. Give the chain code only to whoever has to derive
// addresses themselves.
//
// Related keys. Keys of one tree differ by offsets known to whoever has the
// chain code. With ECDSA, s = k⁻¹(e + r(x+Delta)) = k⁻¹((e + r*Delta) + r*x):
// a signature (r, s) by the child on digest e is also a valid signature by the
// root on digest e + r*Delta mod n (and likewise between siblings). That
// digest is not the hash of any message anyone can find, so a verifier that
// hashes the message itself is not fooled. (The service signs digests its
// callers give: a digest is only safe to sign if the caller computed it as
// the hash of the message it means.) Still, a signature is not bound to one
// key of a tree: with Delta, anyone turns it into a signature of another key
// of the tree on a related digest. Groth and Shoup
// ("On the security of ECDSA with additive key derivation and
// presignatures", Eurocrypt 2022) analyse this setting; notably, additive
// derivation combined with presignatures (nonces fixed before the digest and
// path are known) admits a cube-root attack. This service has no
// presignatures; do not add them without revisiting that paper.
//
// What to do about it:
//   - Mark a root key derivation-only, so the root never signs directly and
//     every signature is made by a derived key whose path is recorded.
//   - Where two uses must not be related at all (tenants, environments), use
//     separate keys from separate keygens, not separate paths of one key.
//   - In plain BIP32, the chain code plus one non-hardened child private key
//     reveals the parent private key (x = x_child - Delta). Here no child
//     private key exists in one place (t+1 colluding holders can already sign
//     for every key of the tree), so the residual risks are the linkability
//     and related-key signatures above.
//
// # Chain code
//
// A key's chain code is fixed at keygen by ChainCodeFromSession from the
// keygen session id; see its documentation for what that relies on.
//
// All curve arithmetic is done by github.com/decred/dcrd/dcrec/secp256k1/v4.
// No function in this package panics, whatever its input.
package hd
