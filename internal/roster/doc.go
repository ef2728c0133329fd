// Package roster is the membership of one institution: an append-only,
// hash-chained log of entries signed by its operators, people who hold
// Ed25519 keys the coordinator never sees. The coordinator only stores and
// serves the log and is assumed hostile: a device trusts the roster because
// it verifies every entry from a genesis hash it pinned out of band (in the
// pairing code), never because the coordinator says so.
//
// # Encoding
//
// An entry is a body (the exact bytes that are hashed and signed) and a list
// of signatures. A body is the JSON of Body as encoding/json writes it
// (EncodeBody): fields in struct order, empty optional fields omitted, byte
// strings in padded standard base64, no whitespace, '<', '>', '&', U+2028
// and U+2029 escaped. For example:
//
//	{"v":1,"height":1,"prev":"<64 hex>","time":1700000060,"kind":"add_device",
//	 "device":{"id":"<32 hex>","name":"phone","identity_key":"<base64>","encryption_key":"<base64>"}}
//
// (one line, without the break). The fields:
//
//	v                1, the format version
//	height           0 for genesis, then +1 per entry
//	prev             lowercase hex SHA-256 of the previous entry; absent in genesis
//	time             unix seconds, informational; > 0 and >= the previous entry's
//	kind             genesis | add_device | revoke_device | set_operators |
//	                 add_requester | revoke_requester
//	nonce            genesis only: 32 lowercase hex digits (16 random bytes)
//	operators        genesis, set_operators: [{"name":..,"key":<32 bytes>}]
//	quorum           genesis, set_operators: operator signatures needed
//	device_approval  genesis only: whether an active device may approve an add_device
//	device           add_device only: {"id","name","identity_key","encryption_key"}
//	device_id        revoke_device only
//	reason           every kind but genesis: optional free text
//	requester        add_requester only: {"id","name","algorithm","public_key",
//	                 "keys","paths","max_per_hour"}, see below
//	requester_id     revoke_requester only
//
// DecodeBody accepts a body only if it is that canonical encoding: at most
// MaxBodySize (64 KiB) bytes, a single JSON object with no unknown fields
// (at any depth) and nothing after it, version 1, and EncodeBody of the
// decoded value equal to the input byte for byte. So a body has exactly one
// encoding: duplicate keys, case variants of field names, whitespace,
// reordered fields, escapes that need not be, explicit nulls or empty
// optional fields are all refused (ErrMalformed). The ceremony encoding
// (EncodeCeremony, DecodeCeremony, MaxCeremonySize 64 KiB) follows the same
// rules. EncodeBody and EncodeCeremony refuse what DecodeBody and
// DecodeCeremony would not take back: a version other than 1, text that is
// not UTF-8, or an encoding over the size limit.
//
// # Hashes and signatures
//
// Every hash is SHA-256 over a domain string and the body, and every
// signature is Ed25519 (RFC 8032) by a 32-byte key over a second domain
// string and the 32-byte hash:
//
//	entry hash           SHA-256("mpcsign/v1/roster-entry\x00" || body)
//	entry signature      over "mpcsign/v1/roster-sign\x00" || entry hash
//	authorization hash   SHA-256("mpcsign/v1/ceremony\x00" || body)
//	authorization sig.   over "mpcsign/v1/ceremony-sign\x00" || authorization hash
//
// so that no signature of one kind is a signature of another, and no other
// protocol's signature is one of these. Hashes print as lowercase hex
// (Hash.String); ParseHash takes either case. A signature is (key, sig);
// Sign replaces an earlier signature by the same key and keeps the list
// sorted by key, but a verifier does not require the order.
//
// # Rules
//
// The genesis entry (Open) has height 0, no prev, a nonce, 1 to
// MaxOperators (32) operators with distinct 32-byte keys and distinct names
// matching ^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$, a quorum from 1 to the number
// of operators, and optionally device_approval. It is signed by at least
// quorum of its own operators.
//
// Every later entry (State.Check) has height = current height + 1 and
// prev = hex of the current head, else ErrChain. Its kind's rules:
//
//   - add_device: id = identity.DeviceID(identity_key) (the first 16 bytes,
//     in hex, of SHA-256("mpcsign/v1/device-id\x00" || identity_key)); both
//     keys are 32 bytes; the name matches ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$.
//     The id was never on the roster (a revoked device never comes back; it
//     pairs again with a new identity), and no active device has the name
//     (a revoked device's name is free again).
//   - revoke_device: device_id is an active device (ErrNotActive).
//   - set_operators: a new operator set and quorum under the genesis rules,
//     signed under the current (old) set. From the next entry on only the
//     new set counts: a removed operator's signature is ErrUnknownSigner.
//     device_approval is fixed by genesis and cannot be set here.
//   - add_requester: registers a requester, a wallet backend's key that may
//     ask the devices to sign (package signreq), or replaces the grants of
//     an active one; its fields are below. An id that is active is
//     re-added: the entry replaces its name, keys, paths and max_per_hour,
//     and its AddedAt, and it keeps its place in Requesters. An id that was
//     revoked never comes back (the backend makes a new key). No other
//     active requester has the name (a revoked requester's name, or a
//     device's, is free).
//   - revoke_requester: requester_id is an active requester (else ErrRule).
//     The requester stays in Requesters, inactive; a device refuses its
//     signed requests from then on.
//
// A requester (add_requester's requester field):
//
//	id            RequesterID(algorithm, public_key): the first 16 bytes, in
//	              hex, of SHA-256("mpcsign/v1/requester-id\x00" || algorithm
//	              || "\x00" || public_key)
//	name          ^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$ (the operator rule)
//	algorithm     "ed25519" or "ecdsa-p256"
//	public_key    ed25519: 32 bytes; ecdsa-p256: 65 bytes, uncompressed SEC1
//	              (0x04 || X || Y), a point on the curve, coordinates below p
//	keys          the key ids it may sign with: 1 to MaxRequesterKeys (64)
//	              distinct ids of 1 to 128 of A-Z a-z 0-9 . _ : -, or the
//	              single grant ["*"] for every key ("*" with another is refused)
//	paths         optional: at most MaxRequesterPaths (64) distinct
//	              non-hardened BIP32 paths in canonical form (hd.FormatPath:
//	              "m/44/60/0"; "m" is the root)
//	max_per_hour  optional, >= 0: the signatures each device approves for it
//	              in any hour, over all keys (absent or 0: no cap)
//
// With paths, the requester may sign with a listed path or any path below
// one, step by step: "m/44/60" allows m/44/60 and m/44/60/0 but not
// m/44/600, and "m" allows every path and the root key (Requester.AllowsPath;
// a request for the root key has no path). Without paths it may sign with
// any path and the root key. Keys: Requester.AllowsKey.
//
// A field that the kind does not use, an unknown kind or a version other
// than 1 is ErrMalformed; a broken membership rule (bad operator set, device
// id or name, requester fields, reason over MaxReason (256) bytes, time
// going back) is ErrRule. A reason must be valid UTF-8.
//
// Signatures (for every entry, genesis included): every signer key is 32
// bytes and appears once (ErrMalformed); every signer is a current operator
// (for genesis: one of its own operators) or else ErrUnknownSigner, with one
// exception; every signature verifies (ErrBadSignature). The exception: when
// genesis set device_approval, an add_device entry may be signed by the
// identity key of a device that is active before the entry (add_device
// only: a device's signature on any other kind, add_requester and
// revoke_requester included, is ErrUnknownSigner). The entry is accepted
// when at least quorum current operators signed it, or when it is such an
// add_device entry signed by at least one active device; else ErrQuorum
// ("have N of M"). Each signer is looked up before its signature
// is verified, so unknown keys cost no verification.
//
// # What a device does
//
// A device pins the genesis hash from its pairing code and keeps the
// highest verified state (or at least its height and head hash). Each time
// it reads the roster from the coordinator it verifies the chain from the
// pinned genesis (Verify: ErrGenesisMismatch if the first entry does not
// hash to the pin), or extends its stored state with the new suffix
// (Extend, all or nothing). Before trusting the result it calls CheckHead
// with the height and head it remembered: a shorter chain is ErrRollback,
// another entry at that height is ErrFork; either means the coordinator
// lies, and the device keeps its old state and refuses to go on. Only then
// does it store the new head. Membership questions (Active, ActiveByName,
// Device; Requester, ActiveRequesterByName, Requesters) are answered from
// the verified state only.
//
// # Ceremonies
//
// A keygen, reshare or drill needs an Authorization: a Ceremony signed by a
// quorum of the operators. Its fields: v (1); genesis (hex genesis hash of
// the roster); roster_height (the height it was made at); kind (keygen,
// reshare or drill); key_id (1 to 128 of A-Z a-z 0-9 . _ : -; required for
// reshare and drill, optional for keygen); curve (secp256k1 or ed25519);
// threshold t (t+1 parties sign; 0 <= t < len(committee)); committee (device
// ids: keygen's members, or for reshare and drill the current holders taking
// part); epoch (reshare and drill: the key's committed epoch being
// reshared); new_threshold and new_committee (reshare and drill only, same
// range rule; a drill's must equal threshold and committee, element by
// element); not_before and not_after (unix seconds, not_before < not_after,
// at most MaxCeremonyWindow (400 days) apart); nonce (32 lowercase hex);
// reason (optional, at most 256 bytes).
//
// State.VerifyCeremony checks, in this order: the canonical encoding
// (ErrMalformed); genesis equal to the state's (ErrWrongGenesis);
// roster_height at most the state's height (ErrChain: signed at a roster
// height this device has not seen); the fields above (ErrMalformed for
// shape, ErrRule for values); not_before <= now <= not_after (ErrExpired);
// the signatures, under the entry rules but with the current operators only
// and no device exception (ErrMalformed, ErrUnknownSigner, ErrBadSignature,
// ErrQuorum); and every committee and new committee member active on the
// state (ErrNotActive). The operators and devices that count are those of
// the verifying state, not of roster_height: removing an operator or
// revoking a device withdraws the authorizations that depend on them.
// Replay within the window is the caller's concern (the nonce makes each
// authorization distinct).
package roster
