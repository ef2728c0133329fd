// Package keyfile keeps one signing key encrypted at rest in one file: an
// operator's key ("mpcctl operator init") and, later, a wallet requester's.
// The private key never leaves the machine of the person who holds it; the
// coordinator, which is assumed hostile, only ever sees public keys and
// signatures.
//
// # File format (mpcsign-keyfile-v1)
//
// A JSON object (UTF-8, indented, ending in "\n"), mode 0600:
//
//	{
//	  "format": "mpcsign-keyfile-v1",
//	  "kind": "operator",
//	  "name": "alice",
//	  "algorithm": "ed25519",
//	  "public_key": "<hex>",
//	  "sealed": "<standard base64>"
//	}
//
// Every field is required and no other field is accepted. The file is at
// most MaxFileSize bytes.
//
//   - format is the constant Format; another value is not a key file.
//   - kind is who holds the key: "operator" (KindOperator) or "requester"
//     (KindRequester). Which kind a command accepts is the caller's check.
//   - name is the holder's name as the roster shows it: 1 to MaxNameLen
//     bytes of printable UTF-8, without leading or trailing space.
//   - algorithm is "ed25519" (AlgorithmEd25519): public_key is the 32-byte
//     Ed25519 public key and the sealed plaintext is the 32-byte RFC 8032
//     seed. The name "p256" is reserved for ECDSA P-256 keys (wallet
//     requesters may need them); this version refuses it.
//   - sealed is a sealed blob (package keystore/seal, seal.SealBlob:
//     Argon2id from the passphrase, then XChaCha20-Poly1305) of the private
//     key.
//
// The blob's associated data binds the public part of the file:
//
//	"mpcsign/v1/keyfile\x00" || field(format) || field(kind) || field(name)
//	    || field(algorithm) || field(public key bytes)
//
// where field(x) is the 4-byte big-endian length of x followed by x. A file
// whose kind, name, algorithm or public key was changed, or whose sealed
// bytes were altered, fails to open with an error wrapping
// seal.ErrTampered. After decryption Read also checks that the private
// key's public key is the file's public_key.
//
// # Errors
//
// Read and ReadPublic return errors wrapping ErrNotFound (no file at the
// path), ErrMalformed (not a valid key file: bad JSON, unknown format or
// algorithm, missing or bad field), seal.ErrWrongPassphrase and
// seal.ErrTampered (Read only; keystore.ErrWrongPassphrase and
// keystore.ErrTampered are the same values). Write refuses an existing path
// with ErrExists. Errors name paths, never passphrases or key bytes.
//
// # Writing
//
// Write never replaces a file: it writes a temporary file in the target's
// directory, syncs it, and links it to the target name (an atomic create that
// fails if the target exists; a rename after a check on filesystems without
// hard links), then syncs the directory. A crash leaves either no key file or
// a complete one.
//
// # Secrets
//
// Key keeps its private key two pointers deep, prints as REDACTED under fmt
// (every verb) and log/slog, and refuses to be marshalled to JSON or text.
// The decrypted seed is wiped once the key is built.
package keyfile
