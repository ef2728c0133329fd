package coordinator

import (
	"encoding/json"
	"os"
)

// ClientConfig is what a client on this machine needs to reach and pin the
// coordinator. It is written next to the token files so that mpcctl works
// without flags on the coordinator's own machine.
type ClientConfig struct {
	Address     string `json:"address"`
	Fingerprint string `json:"fingerprint"`
}

func writeClientConfig(path, addr, fp string) error {
	b, err := json.MarshalIndent(ClientConfig{Address: addr, Fingerprint: fp}, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
