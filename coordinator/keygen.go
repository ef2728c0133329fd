package coordinator

import (
	"bytes"
	"context"
	"fmt"

	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/blame"
	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// CreateKey runs a distributed key generation.
func (s *Server) CreateKey(ctx context.Context, req *mpcv1.CreateKeyRequest) (*mpcv1.CreateKeyResponse, error) {
	if s.draining.Load() {
		return nil, ErrShuttingDown
	}
	curve, t, devs, err := s.keygenPlan(req)
	if err != nil {
		return nil, err
	}
	curveID := roster.CurveSecp256k1
	if curve == mpcv1.Curve_CURVE_ED25519 {
		curveID = roster.CurveEd25519
	}
	auth, err := s.checkCeremony(req.GetAuthorization(), roster.Session{Keygen: true, Curve: curveID, Threshold: t, Committee: ids(devs)})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.KeygenTimeout)
	defer cancel()
	// EdDSA needs no Paillier pre-parameters.
	if err := s.waitReady(ctx, devs, curve == mpcv1.Curve_CURVE_SECP256K1); err != nil {
		return nil, err
	}
	k := Key{Curve: curveSecp256k1, Threshold: t, CreatedAt: s.opts.Now(), DerivationOnly: req.GetDerivationOnly()}
	if curve == mpcv1.Curve_CURVE_ED25519 {
		k.Curve = curveEd25519
	}
	entry := auditlog.Entry{Action: "key.create", Devices: names(devs), Detail: fmt.Sprintf("%s, threshold %d", k.Curve, t)}
	if k.DerivationOnly {
		entry.Detail += ", derivation-only"
	}
	res, err := s.sessions.Run(ctx, &mpcv1.SessionStart{
		Kind:          mpcv1.SessionKind_SESSION_KIND_KEYGEN,
		Curve:         curve,
		Threshold:     uint32(t),
		Authorization: auth,
	}, devs, nil)
	if err == nil {
		err = s.keygenResult(&k, devs, res.Results)
	}
	if err != nil {
		return nil, s.auditFailure(ctx, entry, err)
	}
	entry.KeyID = k.ID
	entry = s.auditEntry(ctx, entry)
	if err := s.store.PutKey(k, &entry); err != nil {
		return nil, err
	}
	s.metrics.audited(entry.Seq)
	s.log.Info("key created", "session", res.ID, "key", k.ID, "threshold", t, "devices", names(devs))
	return &mpcv1.CreateKeyResponse{Key: compromisedCreatedKey(s.keyProto(k))}, nil
}

// keygenPlan checks a keygen request: its curve, threshold and devices.
func (s *Server) keygenPlan(req *mpcv1.CreateKeyRequest) (mpcv1.Curve, int, []Device, error) {
	curve := mpcv1.Curve_CURVE_SECP256K1
	switch req.GetCurve() {
	case mpcv1.Curve_CURVE_UNSPECIFIED, mpcv1.Curve_CURVE_SECP256K1:
	case mpcv1.Curve_CURVE_ED25519:
		curve = mpcv1.Curve_CURVE_ED25519
		if req.GetDerivationOnly() {
			return 0, 0, nil, invalidArg("derivation-only is for secp256k1 keys: Ed25519 keys have no derivation here")
		}
	default:
		return 0, 0, nil, invalidArg("unsupported curve %v", req.GetCurve())
	}
	n, t := len(req.GetDevices()), int(req.GetThreshold())
	if n < 2 || n > 64 {
		return 0, 0, nil, invalidArg("a key needs 2 to 64 devices, got %d", n)
	}
	if t < 1 || t >= n {
		return 0, 0, nil, invalidArg("threshold %d does not fit %d devices: t+1 devices sign, so 1 <= t <= %d", t, n, n-1)
	}
	var devs []Device
	seen := map[string]bool{}
	for _, ref := range req.GetDevices() {
		d, err := s.resolveDevice(ref)
		if err != nil {
			return 0, 0, nil, err
		}
		if seen[d.ID] {
			return 0, 0, nil, invalidArg("device %q is listed twice", ref)
		}
		seen[d.ID] = true
		if d.Status != DeviceActive {
			return 0, 0, nil, failedPrecondition("device %q is %s", d.Name, d.Status)
		}
		devs = append(devs, d)
	}
	return curve, t, devs, nil
}

// keygenResult fills k from what every member of its keygen reported: the
// same public key (and chain code, on secp256k1), and each member's signed
// attestation of it.
func (s *Server) keygenResult(k *Key, devs []Device, results map[string]*mpcv1.SessionResult) error {
	pub, ok := samePublicKey(results)
	if !ok {
		return &SessionError{Kind: "keygen", Reason: "devices reported different public keys"}
	}
	if k.Curve == curveSecp256k1 {
		// Every device derived the chain code from the session id itself.
		cc, ok := sameChainCode(results)
		if !ok {
			return &SessionError{Kind: "keygen", Reason: "devices reported different chain codes"}
		}
		k.ChainCode = cc
	}
	// Every device reported the key's public data alike (older devices
	// report none: their keys' signing complaints stay unverified).
	k.KeyPublic = sameKeyPublic(results)
	k.PublicKey = pub
	k.ID = identity.KeyID(pub)
	for _, d := range devs {
		k.Holders = append(k.Holders, d.ID)
	}
	// Every member signed the key it helped make: wallets check these
	// against the roster instead of believing the coordinator.
	atts, err := s.attestations("keygen", k.ID, rosterCurve(*k), 0, pub, k.ChainCode, k.Threshold, devs, results)
	if err != nil {
		return err
	}
	k.Attestations = attRecords(atts)
	return nil
}

// sameKeyPublic is the key data every device reported, if they all
// reported the same; nil otherwise.
func sameKeyPublic(results map[string]*mpcv1.SessionResult) []byte {
	var kp []byte
	for _, r := range results {
		b := r.GetKeyPublic()
		if len(b) == 0 || len(b) > blame.MaxKeyPublic || (kp != nil && !bytes.Equal(kp, b)) {
			return nil
		}
		kp = b
	}
	return kp
}

// sameChainCode is the chain code every device reported, if they agree.
func sameChainCode(results map[string]*mpcv1.SessionResult) ([]byte, bool) {
	var cc []byte
	for _, r := range results {
		if cc == nil {
			cc = r.GetChainCode()
		} else if !bytes.Equal(cc, r.GetChainCode()) {
			return nil, false
		}
	}
	return cc, len(cc) == 32
}

// samePublicKey checks that all results carry the same public key.
func samePublicKey(results map[string]*mpcv1.SessionResult) ([]byte, bool) {
	var pub []byte
	for _, r := range results {
		if pub == nil {
			pub = r.GetPublicKey()
		} else if !bytes.Equal(pub, r.GetPublicKey()) {
			return nil, false
		}
	}
	return pub, len(pub) > 0
}
