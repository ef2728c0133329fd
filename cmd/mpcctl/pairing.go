package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/mpcsign/mpcsign/internal/pairing"
	"github.com/mpcsign/mpcsign/internal/tlspin"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// Operator-made pairing codes. Once this operator pins a roster, mpcctl
// makes the code's secret itself and gives the coordinator only
// pairing.AuthKey of it: the device proves it holds the code with a MAC and
// never sends the secret. The short authentication string (SAS) is then
// known to the device and to this machine only, which computes it from the
// secret and the keys it is about to sign onto the roster: a coordinator
// that swaps in keys of its own cannot make their SAS match (it would need
// the secret to even compute one). The secret waits in
// <operator-dir>/pairings/NAME.json (0600) until the device is approved or
// the code expires.

type localPairing struct {
	Secret    string    `json:"secret"`
	PairingID string    `json:"pairing_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

func pairingPath(dir, name string) string { return filepath.Join(dir, "pairings", name+".json") }

func savePairing(dir, name string, secret, id []byte, expires time.Time) error {
	if err := os.MkdirAll(filepath.Join(dir, "pairings"), 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(localPairing{Secret: hex.EncodeToString(secret), PairingID: hex.EncodeToString(id), ExpiresAt: expires})
	if err != nil {
		return err
	}
	tmp := pairingPath(dir, name) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, pairingPath(dir, name))
}

// loadPairing returns the secret of the code this machine made for name
// (ok false: none, or an expired one).
func loadPairing(dir, name string, now time.Time) ([]byte, bool, error) {
	b, err := os.ReadFile(pairingPath(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var p localPairing
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, false, fmt.Errorf("%s: %v", pairingPath(dir, name), err)
	}
	secret, err := hex.DecodeString(p.Secret)
	if err != nil || len(secret) != pairing.SecretSize {
		return nil, false, fmt.Errorf("%s: bad secret", pairingPath(dir, name))
	}
	if now.After(p.ExpiresAt.Add(time.Hour)) { // kept a while past expiry: enrolment may have been just in time
		return nil, false, nil
	}
	return secret, true, nil
}

func removePairing(dir, name string) { _ = os.Remove(pairingPath(dir, name)) }

// operatorCode makes an operator-made code for name through c, pinning the
// roster genesis this operator pinned and the certificate it pins.
func (g *globals) operatorCode(ctx context.Context, c mpcv1.AdminServiceClient, dir, name string, ttl time.Duration, pin rosterPin) (string, *mpcv1.CreatePairingCodeResponse, error) {
	// The device will trust this roster: check the coordinator serves the
	// one this operator pinned (no fork, no rollback, appended) first.
	if _, _, err := verifiedRoster(ctx, c, dir); err != nil {
		return "", nil, err
	}
	var code pairing.Code
	if _, err := rand.Read(code.Secret[:]); err != nil {
		return "", nil, err
	}
	resp, err := c.CreatePairingCode(ctx, &mpcv1.CreatePairingCodeRequest{Name: name, TtlSeconds: uint32(ttl / time.Second), AuthKey: pairing.AuthKey(code.Secret[:])})
	if err != nil {
		return "", nil, err
	}
	if len(resp.GetPairingId()) != pairing.IDSize || resp.GetAddress() == "" {
		return "", nil, errors.New("the coordinator did not return the code's id and address (is it older than this mpcctl?)")
	}
	_, pins, err := g.endpoint()
	if err != nil {
		return "", nil, err
	}
	fp, err := tlspin.ParseFingerprint(pins[0])
	if err != nil {
		return "", nil, err
	}
	fpb, _ := hex.DecodeString(fp)
	copy(code.ID[:], resp.GetPairingId())
	copy(code.Fingerprint[:], fpb)
	code.Genesis, code.Address, code.OperatorMade = pin.genesis, resp.GetAddress(), true
	if err := savePairing(dir, name, code.Secret[:], code.ID[:], resp.GetExpiresAt().AsTime()); err != nil {
		return "", nil, fmt.Errorf("keep the code's secret for the approval: %w", err)
	}
	return code.String(), resp, nil
}
