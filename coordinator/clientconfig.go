package coordinator

import (
	"encoding/json"
	"os"
	"time"
)

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

func writeClientConfig(path string, cc ClientConfig) error {
	b, err := json.MarshalIndent(cc, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
