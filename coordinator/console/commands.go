package console

import (
	"math"
	"regexp"
	"strings"

	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// With a roster, approving or revoking a device and drilling a key take an
// operator's signature, made with mpcctl on the operator's own machine: the
// console, which runs on the coordinator, holds no operator key and offers
// no button that the coordinator would refuse. It shows the command to run
// instead. The commands are built here, in one place.

// rosterState is what a page needs to know of the roster: whether there is
// one, and which devices an entry waiting for operator signatures would add
// or revoke. An operator signs such an entry with mpcctl roster sign: making
// a new one instead would only compete with it.
type rosterState struct {
	exists   bool
	adding   map[string]string // device id -> id of the pending add_device entry
	revoking map[string]string // device id -> id of the pending revoke_device entry
}

// rosterState asks the coordinator. It asks for no entries: only whether
// the roster exists, and the pending ones.
func (c *Console) rosterState(q *request) (rosterState, error) {
	resp, err := c.coord.GetRoster(q.ctx, &mpcv1.GetRosterRequest{FromHeight: math.MaxUint64})
	if err != nil {
		return rosterState{}, c.adminError("GetRoster", err)
	}
	rs := rosterState{exists: resp.GetExists(), adding: map[string]string{}, revoking: map[string]string{}}
	for _, p := range resp.GetPending() {
		e := roster.EntryFromProto(p)
		b, err := roster.DecodeBody(e.Body)
		if err != nil {
			continue // the Roster page shows it, with the error
		}
		id := e.Hash().String()[:pendingIDLen]
		switch {
		case b.Kind == roster.KindAddDevice && b.Device != nil:
			keepFirst(rs.adding, b.Device.ID, id)
		case b.Kind == roster.KindRevokeDevice:
			keepFirst(rs.revoking, b.DeviceID, id)
		}
	}
	return rs, nil
}

// keepFirst keeps the smallest entry id per device, so that two pending
// entries for one device show the same way on every page load.
func keepFirst(m map[string]string, device, id string) {
	if cur, ok := m[device]; !ok || id < cur {
		m[device] = id
	}
}

func approveCommand(device string) string {
	return "mpcctl devices approve " + shellWord(device) + " --sas SAS"
}

func revokeCommand(device, replaceWith string) string {
	s := "mpcctl devices revoke " + shellWord(device)
	if replaceWith != "" {
		s += " --replace-with " + shellWord(replaceWith)
	}
	return s
}

func addDeviceCommand(device string) string {
	return "mpcctl roster add-device " + shellWord(device) + " --device-id ID"
}

// drillCommand is mpcctl's drill, a top-level command: with a roster it
// signs the drill ceremony with the operator's key.
func drillCommand(key string) string { return "mpcctl drill --key " + shellWord(key) }

func signCommand(id string) string { return "mpcctl roster sign " + shellWord(id) }

// plainWord is what a shell takes as one word, unquoted and unexpanded.
var plainWord = regexp.MustCompile(`^[A-Za-z0-9._:@/=+-]+$`)

// shellWord quotes s for a POSIX shell unless it needs none. Names and ids
// are validated by the coordinator and need none; the quoting is for a
// command an operator pastes into a terminal, in case one ever did.
func shellWord(s string) string {
	if plainWord.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
