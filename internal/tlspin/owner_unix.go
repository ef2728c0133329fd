//go:build unix

package tlspin

import (
	"os"
	"syscall"
)

// copyOwner gives path the owner and group of ref, when they differ and
// this process may change them (as root). Otherwise it leaves path alone.
func copyOwner(ref, path string) error {
	st, err := os.Stat(ref)
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || int(sys.Uid) == os.Geteuid() && int(sys.Gid) == os.Getegid() {
		return nil
	}
	if os.Geteuid() != 0 {
		return nil
	}
	return os.Lchown(path, int(sys.Uid), int(sys.Gid))
}
