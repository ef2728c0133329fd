package party

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/pairing"
	"github.com/mpcsign/mpcsign/internal/replicas"
	"github.com/mpcsign/mpcsign/internal/tlspin"
	"github.com/mpcsign/mpcsign/keystore"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// ErrAlreadyEnrolled reports a data directory that belongs to an enrolled device.
var ErrAlreadyEnrolled = errors.New("party: this data directory is already enrolled")

// Enroll makes the device's identity keys, registers them with the
// coordinator named in the pairing code, and stores the enrolment.
func Enroll(ctx context.Context, ks *keystore.Store, code string) (Config, error) {
	if _, err := LoadConfig(ks); err == nil {
		return Config{}, ErrAlreadyEnrolled
	} else if !errors.Is(err, ErrNotEnrolled) {
		return Config{}, err
	}
	c, err := pairing.Parse(code)
	if err != nil {
		return Config{}, err
	}
	id, err := loadOrCreateIdentity(ks)
	if err != nil {
		return Config{}, err
	}
	conn, err := dial(c.Address, c.FingerprintHex())
	if err != nil {
		return Config{}, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req := &mpcv1.EnrollRequest{PairingId: c.ID[:], IdentityPublicKey: id.PublicKey(), EncryptionPublicKey: id.EncryptionPublicKey()}
	bound := pairing.SecretHash(c.Secret[:])
	if c.OperatorMade {
		// The secret never leaves the device: the coordinator gets a MAC,
		// and the SAS stays between this device and the operator.
		req.PairingMac = pairing.EnrollMAC(pairing.AuthKey(c.Secret[:]), id.PublicKey(), id.EncryptionPublicKey())
		bound = req.PairingMac
	} else {
		req.PairingSecret = c.Secret[:]
	}
	req.Proof = id.Sign(identity.EnrollTranscript(bound, id.PublicKey(), id.EncryptionPublicKey()))
	resp, err := mpcv1.NewPartyLinkServiceClient(conn).Enroll(ctx, req)
	if err != nil {
		return Config{}, fmt.Errorf("enrol with %s: %s", c.Address, errText(err))
	}
	if resp.GetDeviceId() != identity.DeviceID(id.PublicKey()) {
		return Config{}, errors.New("party: coordinator returned a device id that does not match this device's key")
	}
	cfg := Config{
		DeviceID: resp.GetDeviceId(), Name: resp.GetDeviceName(), Address: c.Address, Fingerprint: c.FingerprintHex(),
		SAS: pairing.SAS(c.Secret[:], id.PublicKey(), id.EncryptionPublicKey()), PendingApproval: resp.GetPendingApproval(),
	}
	if c.HasGenesis() {
		cfg.RosterGenesis = hex.EncodeToString(c.Genesis[:])
	}
	cb, err := json.Marshal(cfg)
	if err != nil {
		return Config{}, err
	}
	return cfg, ks.Put(configKey, cb)
}

// loadOrCreateIdentity returns the stored identity, or makes and stores one
// before it is registered anywhere (so a crash cannot lose a registered key).
func loadOrCreateIdentity(ks *keystore.Store) (*identity.Identity, error) {
	b, err := ks.Get(identityKey)
	if err == nil {
		defer clear(b)
		return identity.Unmarshal(b)
	}
	if !errors.Is(err, keystore.ErrNotFound) {
		return nil, err
	}
	id, err := identity.New()
	if err != nil {
		return nil, err
	}
	ib := id.Marshal()
	defer clear(ib)
	return id, ks.Put(identityKey, ib)
}

func dial(addr, fingerprint string) (*grpc.ClientConn, error) {
	tlsCfg, err := tlspin.ClientConfig(fingerprint)
	if err != nil {
		return nil, err
	}
	target, opts, err := replicas.Target(addr) // several replicas: the active one
	if err != nil {
		return nil, err
	}
	return grpc.NewClient(target, append(opts, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))...)
}
