// Package backup is the file format and paper key of a per-share backup
// ("party backup export" and "party backup restore").
//
// Seal encrypts a share under a fresh random 256-bit key with
// XChaCha20-Poly1305 and returns the file and the key as a 24-word BIP39
// mnemonic (the words encode the key itself plus the standard 8-bit checksum;
// there is no PBKDF2 seed step). Open takes the file and the words back.
//
// # File format (version 1)
//
// A text file of three lines, each ending in "\n":
//
//	mpcsign-share-backup v1
//	{"version":1,"key_id":"k...","epoch":3,...,"nonce":"<hex>","key_check":"<hex>"}
//	<standard base64 of the XChaCha20-Poly1305 ciphertext and tag>
//
// The second line is the public Header as JSON, in clear so that a file can
// be identified (and its epoch checked) before anyone types the words. The
// first two lines, exactly as written ("mpcsign-share-backup v1\n" + the
// JSON), are the AEAD associated data: changing any byte of them, or of the
// ciphertext, makes Open fail with ErrTampered. key_check is the first 16
// bytes of SHA-256("mpcsign/v1/backup-key-check\x00" || key); it lets Open
// tell wrong words (ErrWrongWords, naming the wrong word when a single word
// is wrong or two are swapped) from a changed file (ErrTampered). A file is
// at most MaxFileSize bytes; Windows line endings are accepted.
//
// # Secrets
//
// Mnemonic and Key print as REDACTED under fmt and log/slog and refuse to be
// marshalled; their bytes can be wiped. Errors name word positions, never
// words.
//
// # What the caller does
//
// ReadHeader is unauthenticated: use it to show what a file is and to refuse
// a retired epoch early (Header.Check), then check the Header that Open
// returns again, since only that one is authenticated.
package backup
