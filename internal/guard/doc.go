// Package guard validates tss-lib v2.0.2 messages (keygen, signing and
// resharing, for ECDSA on secp256k1 and EdDSA on Ed25519) before they reach
// the library's Update, so that the service rejects a malformed or malicious
// message itself and blames its sender.
//
// tss-lib v2.0.2 is the newest release the service can use. Upstream added
// verifier-side checks after it, in v3.0.0 and in the v4 pull request; the
// guard mirrors every one that can be made on a received message from
// outside the library (see "Upstream parity" below). v2.0.2 also panics on
// some peer bytes inside goroutines it starts itself, which no caller can
// recover: a short VSS vector, an even Paillier modulus, a DLN proof length
// prefix that wraps negative, a non-invertible MtA ciphertext, a ProofBobWC
// response that is a multiple of q (TestLibraryPanicsWithoutTheGuard shows
// each). Its EdDSA code has gaps of its own (see eddsa.go): a short VSS
// vector panics the same way, an off-curve R_j in signing makes round 3
// dereference nil, and oversized scalars make its big-integer scalar
// multiplication run for as long as the scalar is long. This package closes
// those gaps:
//
//   - CheckWire caps the raw payload size per protocol (for EdDSA keygen
//     and resharing, per threshold), before parsing.
//   - Check validates one parsed message on its own: counts of repeated
//     fields, canonical encodings, bit sizes and ranges of every integer,
//     degenerate proof values, moduli (2048 bits, odd, 1 mod 4, composite,
//     no factor below 1000), points on the curve (for Ed25519: canonical
//     coordinates in the prime-order subgroup), commitment lengths.
//   - Session adds the checks that need a value from another message: in
//     keygen the Paillier modulus N arrives in round 1 and its modulus proof
//     in round 2, so gcd(W, N) = 1 can only be checked there; in signing,
//     Alice's modulus and the local party's own N and NTilde come from the
//     key data (Session.LearnKey). In EdDSA it checks that a decommitment
//     opens the commitment the same sender sent earlier. It also rejects a
//     sender that sends two different messages of one type.
//
// A rejected message yields a *Violation naming the message type, the field
// and the failed rule; it never carries a value from the message.
//
// Use, for every message a LocalParty receives:
//
//	if err := guard.CheckWire(p, wire); err != nil { ... }   // blame the sender
//	msg, err := tss.ParseWireMessage(wire, from, isBroadcast)
//	if err != nil { ... }                                       // blame the sender
//	if err := sess.Check(msg); err != nil { ... }              // sess := guard.NewSession(p), one per LocalParty
//	party.Update(msg)
//
// A *Violation blames msg.GetFrom(); guard.ErrOutOfOrder means "hold and
// retry after the sender's earlier messages"; guard.ErrBadParams is the
// caller's own error. No check compares two senders' messages with each
// other, so an honest message is never refused because of what another
// sender sent first. In signing, call sess.LearnKey with the local key data first
// (sess.LearnKeyEdDSA for EdDSA signing; optional, it refuses senders that
// do not hold the key and enables the local-ring checks).
//
// # Upstream parity
//
// Compared: github.com/bnb-chain/tss-lib v2.0.2 against v3.0.0 (module
// github.com/bnb-chain/tss-lib/v3) and the open v4 pull request (module
// .../v4, bnb-chain/tss-lib commit f204718 as published). Each line names
// the upstream file and function, what its verifier checks, and where the
// guard checks it. "New" marks the checks added for this parity work, with
// the test that crafts a message only that check refuses; the others were
// already in the guard.
//
// v3.0.0:
//
//   - crypto/ecpoint.go isOnCurve: coordinates in [0, P) (SRC-2026-573) ->
//     fields.coord, fields.edCoord.
//   - crypto/modproof ProofMod.Verify: gcd(W, N) = 1 (upstream #323) ->
//     modProof.against (Session in keygen; Check in resharing).
//   - crypto/mta RangeProofAlice.Verify: gcd(c, N) = 1, S != 1, Z != 1,
//     S1 != S2 -> checkAliceAgainst (Session, after LearnKey) and
//     fields.rangeProofAlice (values in [2, 2^bits), S1 != S2).
//   - crypto/vss Share.Verify: len(vs) == t+1 (upstream #291) ->
//     fields.decommitment, fields.edDecommitment (exactly 1 + 2(t+1) parts).
//   - eddsa/signing round_3.go: EightInvEight only after NewECPoint
//     succeeded -> fields.edPoint on the round 2 decommitment.
//
// v4 pull request:
//
//   - common.IsUsableUnknownOrderModulus (odd, >= 2048 bits, composite) in
//     dlnproof.Proof.Verify, facproof.ProofFac.Verify (N0 and NCap), mta's
//     RangeProofAlice/ProofBobWC.Verify and paillier.Proof.Verify. New:
//     fields.upstreamModulus refuses a prime Paillier N or NTilde in keygen
//     round 1 and resharing round 2 (TestUpstreamModulus;
//     TestLibraryAcceptsPrimeNTilde shows v2.0.2 accepting DLN proofs over a
//     prime NTilde). The size window is fields.modulus (exactly 2048 bits).
//   - keygen round_3.go / resharing round_4_new_step_2.go: a modulus proof
//     for NTilde (nTildeModProof.Verify), which only a Blum integer passes.
//     The proof is a new message field; new: fields.upstreamModulus checks
//     its necessary condition, NTilde = 1 mod 4 (and N likewise)
//     (TestUpstreamModulus).
//   - dlnproof.Proof.Verify: h1, h2 canonical generators (raw value in
//     (1, N), unit), h1 != h2 -> fields.ringPedersen; T_i in (1, N) as
//     sent -> fields.dlnProof; alpha_i canonical generators -> new:
//     fields.dlnAlphaUnits (gcd(alpha_i, NTilde) = 1; TestUpstreamDLNAlpha).
//   - modproof.ProofMod.Verify: W range-checked before Jacobi, gcd(W, N),
//     gcd(X_i, N), gcd(Z_i, N) = 1, N composite -> fields.decodeModProof
//     (sizes first), modProof.against, fields.modulus.
//   - mta RangeProofAlice.Verify: c canonical (c < N^2, gcd(c, N) = 1),
//     gcd(S, N) = 1 -> checkAliceAgainst; S2 < 2*q^3*NTilde of the verifier
//     -> new: localRing.checkAlice (Session after LearnKey;
//     TestUpstreamSigningLocalRing).
//   - mta ProofBobWC.Verify (also ProofBob): c2 canonical under the
//     verifier's N, S2 and T2 < 2*q^3*NTilde of the verifier -> new:
//     localRing.checkBob on SignRound2Message C1, C2, ProofBob and
//     ProofBobWc (TestUpstreamSigningLocalRing); U in the subgroup ->
//     fields.point (secp256k1 has cofactor 1).
//   - paillier.Proof.Verify: N composite, each value a unit below N ->
//     fields.modulus (new: composite), Session (unitBelow).
//   - facproof.ProofFac.Verify: Z1, Z2, W1, W2, Sigma, V positive and below
//     q^3*sqrt(N0), 2*q^3*NCap, q*N0*NCap, 4*q^3*N0*NCap -> fields.facProof
//     with the bounds of limits.go, which put 2^2048 for NCap (see below).
//   - schnorr ZKProof/ZKVProof.Verify: responses in (0, q), points in the
//     prime-order subgroup and not the identity -> fields.scalar,
//     fields.point, fields.edScalar, fields.edPoint.
//   - vss Share.Verify: share in (0, q), commitments in the subgroup and not
//     the identity -> the same scalar and point checks.
//   - commitments HashCommitDecommit.Verify: at least two parts, none nil;
//     keygen round_3.go (ECDSA and EdDSA): exact decommitment length before
//     DeCommit (SRC-2026-925) -> fields.decommitment, fields.edDecommitment.
//   - keygen and resharing: ModProof and FacProof mandatory, NoProofMod and
//     NoProofFac removed (SRC-2026-926) -> fields.decodeModProof and
//     fields.facProof refuse a missing or all-zero proof.
//   - ecdsa/signing round_4.go: every theta canonical (< q, not overlong)
//     -> checkSignRound3 (and the same for every other scalar).
//   - resharing round_1_old_step_1.go Update (ECDSA and EdDSA): every old
//     party's public key equals the others' (v2.0.2 compares slot 0 with
//     itself, SRC-2026-1155); round_2_new_step_1.go oldSSIDUnanimous: every
//     old slot declares the same non-empty ssid (v2.0.2 skips slot 0 and
//     the slot equal to its own new index). The ssid's length (1..32 bytes)
//     is checkDGRound1. The agreement itself is checked by the caller
//     (party/session.go checkReshareRound1), which knows more than the
//     guard: the key id the public key must match, and as an old member
//     its own ssid. The guard could only take the first declaration to
//     arrive as the reference, and would then refuse the honest members'
//     after a liar's (TestResharingDeclarationsLeftToCaller).
//   - resharing StoreMessage: a different message replacing a stored one of
//     the same sender, keyed by identity rather than index -> Session's
//     per-sender digests, keyed by party key.
//
// # Changes that cannot be mirrored from outside
//
// The service binds every message to its session and its sender in the
// envelope layer, but the contents of tss-lib's proofs are not bound to the
// session. With that in mind, what remains and its risk:
//
//   - What goes into a Fiat-Shamir challenge. v3 puts the ssid into the DLN
//     proof challenge and Session (ssid plus the verifier's index) plus
//     NTilde, h1, h2 into Alice's range proof challenge, adds NTilde, h1, h2
//     to Bob's, and mixes a caller-chosen session nonce
//     (Parameters.SetSessionNonce; the message hash by default in signing)
//     into the ssid of keygen, signing and resharing. v4 adds a domain tag
//     per proof type, samples the modulus-proof challenges over all of Z_N,
//     reduces hashes instead of rejection sampling, and refuses a zero
//     challenge. None of it shows in a v2.0.2 message, and the guard cannot
//     recompute a challenge to mirror it. Risk: v2.0.2's ssid is the curve,
//     the party keys (and in signing the key's public data) and the round
//     with nonce 0, so it is the same in every keygen of one party set and
//     every signing of one key and signer set, whatever the message; the
//     DLN proofs and Alice's range proof are bound to no session or party
//     at all. Proofs from one session verify in another. Replay by an
//     outsider is stopped by the envelope (authenticated sender, session
//     binding); a member can still reuse proofs, its own or copied from
//     another member's earlier session (e.g. another member's NTilde with
//     its DLN proofs, which the duplicate-modulus check catches only within
//     one session). The zero challenge has probability 2^-256.
//   - Prover-side constant-time arithmetic (common.CTModInt in dlnproof,
//     facproof, modproof, mta, paillier Decrypt and Proof, schnorr, signing
//     rounds 3 to 5) and MtA timing normalisation (AliceEnd decryption
//     padded to about 200 ms). These are the local party's own computations.
//     Risk: v2.0.2's big.Int arithmetic on secrets (k, gamma, w, the
//     Paillier lambda, the DLN and factorisation witnesses) stays variable
//     time (CVE-2023-26556, CVE-2023-26557): an attacker who can time a
//     party over many sessions, or runs on the same host, may learn secret
//     bits. Keep parties off shared hosts and limit session rates.
//   - v4's bound on Alice's decrypted MtA share (AliceEnd, AliceEndWC:
//     alpha' < q^6, with the same error as a failed proof). It needs the
//     Paillier secret key, and it must run after the proof has verified
//     and fail indistinguishably from it; a guard check before the library
//     verifies the proof, with its own violation, would be the
//     plaintext-range oracle the change avoids. Risk: a signer that
//     departs from the protocol in choosing its mask, with proofs that
//     verify, makes the other's share wrong; v2.0.2 reduces it mod q and
//     the signature fails at the end, blaming no one. Treat a signature
//     that fails to verify as an attack and do not retry the same signer
//     set without limit (selective-failure leaks).
//   - facproof against the verifier's own ring: P, Q, A, B, T units below
//     NCap, the exact Sigma, W and V bounds, s and t canonical. NCap, s, t
//     are the recipient's own NTilde, h1, h2, which no received keygen or
//     resharing message carries and the Session is never given. limits.go
//     bounds the responses with 2^2048 for NCap (within one bit of v4) and
//     P..T to [2, 2^2048). Risk: v2.0.2 accepts non-canonical P..T (at or
//     above NCap, equal modulo NCap): malleable proofs, no known soundness
//     break; the range checks on Z1, Z2 that block small factors are in
//     v2.0.2.
//   - New message fields: the NTilde modulus proof (keygen
//     KGRound2Message2, resharing DGRound2Message1) and the session nonce
//     hash in resharing DGRound1Message. v2.0.2 peers do not send them. Only
//     the necessary conditions are checked (NTilde 1 mod 4 and composite).
//     Risk: a party may still announce an NTilde that is no product of safe
//     primes, e.g. with p-1 smooth or elements of small order as h1, h2
//     (v4's modulus proof does not exclude that either): the range proofs
//     the others make under its ring, Alice's z = h1^k h2^rho and Bob's z
//     and t, then leak their secrets to it. The nonce hash is covered by the
//     envelope's session binding.
//   - Resharing admission (v4 LocalParty.ValidateMessage, SRC-2026-1721):
//     the sender must belong to the committee its message type comes from
//     (old: DGRound1Message, DGRound3Message1/2; new: DGRound2Message1/2,
//     DGRound4Message1/2). v2.0.2 only checks From.Index against that
//     committee's size, and the guard knows the committees' sizes, not
//     their members. Risk: if the caller hands tss-lib an old member's
//     PartyID for a new-committee message, that member takes a new member's
//     slot (an ACK stands in for a party that never spoke). The caller must
//     map the envelope's sender to the PartyID of the committee the message
//     type comes from.
//   - Checks on local inputs or the prover's own side: the signed hash in
//     (0, q), vss.Create and ReConstruct share counts, GenerateKeyPair
//     sizes, ECPoint nil and gob guards, and ProveRangeAlice/ProveBob
//     refusing a counterparty ring their verifier would reject
//     (ErrCounterpartyRingUnusable). Risk: with a degenerate ring
//     (small-order h1), an honest v2.0.2 prover's proof can fail and the
//     prover be blamed for the ring owner's fault; the guard refuses h1, h2
//     outside (1, NTilde), non-units and h1 == h2, not small order.
package guard
