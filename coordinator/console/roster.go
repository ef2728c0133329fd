package console

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
	"github.com/mpcsign/mpcsign/internal/rostertext"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// rosterView is the coordinator's copy of the roster as the Roster page
// shows it. The console decodes and checks it with the roster package, but
// it runs on the coordinator, which is not trusted: an operator verifies the
// roster on their own machine (mpcctl roster verify).
type rosterView struct {
	Exists         bool
	Genesis, Head  string
	Height         uint64
	Quorum         int
	DeviceApproval bool
	Operators      []operatorView
	Entries        []entryView // newest first
	Pending        []pendingView
}

type operatorView struct{ Name, Fingerprint string }

type entryView struct {
	Height   uint64
	Time     time.Time
	Kind     string
	What     string
	SignedBy []string // operator names, or "device:<name>"
}

// pendingView is an entry waiting for more operator signatures.
type pendingView struct {
	ID       string // the first 12 hex digits of its hash, as mpcctl roster sign takes it
	Kind     string
	What     string
	SignedBy []string
	Signed   int // operator signatures so far
	Need     int // the quorum
	Command  string
	Err      string // why it does not extend the roster, if it does not
}

// pendingIDLen is how many hex digits of a pending entry's hash name it
// (mpcctl prints and takes the same prefix).
const pendingIDLen = 12

func (c *Console) rosterPage(w http.ResponseWriter, r *http.Request, q *request) error {
	resp, err := c.coord.GetRoster(q.ctx, &mpcv1.GetRosterRequest{})
	if err != nil {
		return c.adminError("GetRoster", err)
	}
	v, err := viewRoster(resp)
	if err != nil {
		c.log.Error("the coordinator's roster does not verify", "err", err)
		return &httpError{http.StatusInternalServerError, "The coordinator's roster does not verify: " + err.Error() + ". Check it on your own machine with mpcctl roster verify."}
	}
	c.render(w, q, http.StatusOK, "roster.html", "Roster", "roster", v)
	return nil
}

// viewRoster decodes the entries from the genesis on (resp must hold them
// all), checking each against the state before it, and the pending ones
// against the head.
func viewRoster(resp *mpcv1.GetRosterResponse) (rosterView, error) {
	v, _, err := verifyRoster(resp)
	return v, err
}

// verifyRoster is viewRoster that also returns the verified state (nil
// without a roster).
func verifyRoster(resp *mpcv1.GetRosterResponse) (rosterView, *roster.State, error) {
	v := rosterView{Exists: resp.GetExists()}
	var st *roster.State
	if v.Exists {
		if len(resp.GetEntries()) == 0 {
			return rosterView{}, nil, errors.New("no entries")
		}
		var err error
		for i, p := range resp.GetEntries() {
			e := roster.EntryFromProto(p)
			var signers []string
			var b roster.Body
			var what string
			if i == 0 {
				if signers, _, err = roster.GenesisSigners(e); err == nil {
					st, err = roster.Open(e)
				}
			} else if signers, _, err = st.Signers(e); err == nil {
				// Described against the state before it, as a pending entry is.
				if b, err = roster.DecodeBody(e.Body); err == nil {
					what = entryText.Describe(b, st)
					err = st.Apply(e)
				}
			}
			if err != nil {
				return rosterView{}, nil, fmt.Errorf("entry %d: %w", i, err)
			}
			if i == 0 {
				b, _ = roster.DecodeBody(e.Body) // decoded by Open just now
				what = entryText.Describe(b, nil)
			}
			v.Entries = append(v.Entries, entryView{Height: b.Height, Time: time.Unix(b.Time, 0), Kind: string(b.Kind), What: what, SignedBy: signers})
		}
		slices.Reverse(v.Entries)
		v.Genesis, v.Head, v.Height, v.Quorum, v.DeviceApproval = st.GenesisHash().String(), st.Head().String(), st.Height(), st.Quorum(), st.DeviceApproval()
		for _, op := range st.Operators() {
			v.Operators = append(v.Operators, operatorView{Name: op.Name, Fingerprint: keyfile.Fingerprint(op.Key)})
		}
	}
	for _, p := range resp.GetPending() {
		v.Pending = append(v.Pending, viewPending(roster.EntryFromProto(p), st))
	}
	slices.SortFunc(v.Pending, func(a, b pendingView) int { return cmp.Compare(a.ID, b.ID) })
	return v, st, nil
}

// viewPending shows an entry waiting for signatures: against st, or as a
// genesis when there is no roster yet (st nil).
func viewPending(e roster.Entry, st *roster.State) pendingView {
	id := e.Hash().String()[:pendingIDLen]
	p := pendingView{ID: id, Command: signCommand(id)}
	b, err := roster.DecodeBody(e.Body)
	if err != nil {
		p.Err = err.Error()
		return p
	}
	p.Kind, p.What = string(b.Kind), entryText.Describe(b, st)
	if st == nil {
		p.SignedBy, p.Need, err = roster.GenesisSigners(e)
	} else {
		p.SignedBy, p.Need, err = st.Signers(e)
	}
	if err != nil {
		p.Err = err.Error()
	}
	for _, s := range p.SignedBy {
		if !strings.HasPrefix(s, "device:") {
			p.Signed++
		}
	}
	return p
}

// entryText says what an entry does, as mpcctl roster show does, with the
// grants as the Requesters page says them and a new requester's grants
// marked when they replace an active one's.
var entryText = rostertext.Style{Grants: grantsText, MarkReplace: true}
