package party

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/mpcsign/mpcsign/internal/replicas"
)

// replicaDialer chooses which coordinator replica the device dials next:
// the addresses of its configuration (every replica's, comma-separated, as
// the pairing code gave them) in turn, or the active replica a standby
// named. The address is only where to dial: whoever answers must still
// serve the pinned certificate and know this device.
type replicaDialer struct {
	mu       sync.Mutex
	next     int    // the list's address dialled next (modulo its length)
	redirect string // the active replica a standby named, dialled next
	current  string // the address dialled last
	lost     string // the last address whose link failed without a standby's answer
	// failed counts the links that failed since a standby answered or a
	// handshake succeeded.
	failed int
}

// pick is the address to dial, from the configured list.
func (d *replicaDialer) pick(list string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.current = list
	if d.redirect != "" {
		d.current = d.redirect
	} else if addrs := replicas.Split(list); len(addrs) > 0 {
		d.current = addrs[d.next%len(addrs)]
	}
	return d.current
}

// ended records how the link to the address picked last ended (connected:
// after its handshake). A standby's refusal names the active replica, which
// is dialled next unless it is the one just lost (a standby names the dead
// active replica until its lease expires); any other end moves on to the
// next address of list. soon reports that the next dial should come at
// once rather than after a growing backoff: a standby answered (a takeover
// takes seconds), or not every address has failed since the last link.
func (d *replicaDialer) ended(list string, connected bool, err error) (soon bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if connected {
		d.failed = 0
	}
	redirected := d.redirect != ""
	d.redirect = ""
	if active, standby := replicas.ActiveAddress(err); standby {
		d.failed = 0
		if active != "" && active != d.current && active != d.lost {
			d.redirect = active
		} else {
			d.next++
		}
		return true
	}
	d.lost = d.current
	if !redirected { // a redirect was a detour: the list resumes where it was
		d.next++
	}
	d.failed++
	return d.failed < len(replicas.Split(list))
}

// maxAddressList bounds the learned address list a device keeps, as a
// pairing code bounds its own.
const maxAddressList = 255

// dialList is the pairing code's addresses, then the learned ones that
// are not among them.
func dialList(paired, learned string) string {
	addrs := replicas.Split(paired)
	for _, a := range replicas.Split(learned) {
		if !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	return replicas.Join(addrs)
}

// learnAddresses stores the replicas' addresses a connected coordinator
// announced (none: the list stays as it is), beside the pairing code's,
// which it never replaces: a coordinator can only add where to dial, and
// whoever answers there must still present the pinned certificate and pass
// the device's challenge. A malformed or over-long list is ignored.
func (a *Agent) learnAddresses(addrs []string) {
	if len(addrs) == 0 {
		return
	}
	if err := checkAddresses(addrs); err != nil {
		a.log.Warn("coordinator announced replica addresses this device does not keep", "err", err)
		return
	}
	list := replicas.Join(addrs)
	_, changed, err := a.updatePins(func(c *Config) bool {
		if c.Replicas == list {
			return false
		}
		c.Replicas = list
		return true
	})
	if err != nil {
		a.log.Error("could not store the coordinator replicas' addresses", "err", err)
		return
	}
	if changed {
		a.log.Info("coordinator replicas' addresses learned; they are dialled in turn from now on", "addresses", list)
	}
}

// checkAddresses checks an announced address list: host:port each, no
// separators inside, at most maxAddressList bytes in all.
func checkAddresses(addrs []string) error {
	for _, addr := range addrs {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host == "" || port == "" || strings.ContainsAny(addr, ", \t\r\n/") {
			return fmt.Errorf("malformed address %q", addr)
		}
	}
	if n := len(replicas.Join(addrs)); n > maxAddressList {
		return fmt.Errorf("the list is %d bytes, more than %d", n, maxAddressList)
	}
	return nil
}
