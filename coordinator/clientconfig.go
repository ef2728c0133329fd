package coordinator

import (
	"encoding/json"
	"os"

	"github.com/mpcsign/mpcsign/internal/coordclient"
)

// writeClientConfig writes what a client on this machine needs to reach and
// pin the coordinator (coordclient.ClientConfig) next to the token files, so
// that mpcctl works without flags on the coordinator's own machine.
func writeClientConfig(path string, cc coordclient.ClientConfig) error {
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
