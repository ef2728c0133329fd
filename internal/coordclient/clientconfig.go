// Package coordclient is what a client on the coordinator's own machine
// shares with it: client.json (the address and pinned certificate
// fingerprints), the token files, dialing with them, and the client-visible
// errors that both sides return. It links no coordinator code, so that
// mpcctl stays a client only.
package coordclient

import (
	"context"
	"os"
	"path/filepath"
	"time"
)

// ConfigFile is the name of the client configuration in a coordinator's
// data directory.
const ConfigFile = "client.json"

// ClientConfig is what a client on this machine needs to reach and pin the
// coordinator. It is written next to the token files so that mpcctl works
// without flags on the coordinator's own machine.
type ClientConfig struct {
	Address     string `json:"address"`
	Fingerprint string `json:"fingerprint"`
	// During a certificate rotation: the next certificate's fingerprint and
	// when the coordinator starts serving it. Clients pin both meanwhile.
	NextFingerprint string    `json:"next_fingerprint,omitempty"`
	SwitchAt        time.Time `json:"switch_at,omitzero"`
}

// Pins are the fingerprints a client accepts: the current one and, during a
// rotation, the next.
func (c ClientConfig) Pins() []string {
	if c.NextFingerprint == "" {
		return []string{c.Fingerprint}
	}
	return []string{c.Fingerprint, c.NextFingerprint}
}

// WaitConfig waits until a starting coordinator has written the client
// configuration into its data directory dir, or ctx ends.
func WaitConfig(ctx context.Context, dir string) error {
	path := filepath.Join(dir, ConfigFile)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
