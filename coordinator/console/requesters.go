package console

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
	"github.com/mpcsign/mpcsign/internal/rostertext"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// requestersView is the Requesters page: the wallet backends' keys on the
// coordinator's copy of the roster (checked by the console, which is not
// trusted: mpcctl requesters list verifies it on the operator's machine),
// and the commands that change them. Registering, changing and revoking a
// requester is a roster entry signed with an operator's key, which the
// console does not hold: it shows the command instead of a button.
type requestersView struct {
	Exists  bool   // whether the coordinator has a roster
	Height  uint64 // the roster's height
	Active  int
	Revoked int
	List    []requesterView // in the order they were added
	Pending []pendingView   // add_requester and revoke_requester entries waiting for signatures
	// The commands an operator runs on their own machine.
	CreateCmd, CreateKMSCmd, GrantCmd, RevokeCmd, ListCmd, SignCmd string
}

type requesterView struct {
	ID, ShortID, Name string
	Algorithm         string
	Fingerprint       string // of the public key, as mpcctl prints it
	AllKeys           bool
	Keys              []string
	Paths             []string // none: any path
	MaxPerHour        int      // 0: no cap
	Active            bool
	AddedAt           uint64 // height of its latest add_requester entry
	RevokedAt         uint64
	// RevokeCmd revokes an active requester; SignCmd, when its
	// revocation waits for operator signatures, signs that entry instead.
	RevokeCmd, SignCmd string
}

func (c *Console) requestersPage(w http.ResponseWriter, r *http.Request, q *request) error {
	resp, err := c.coord.GetRoster(q.ctx, &mpcv1.GetRosterRequest{})
	if err != nil {
		return c.adminError("GetRoster", err)
	}
	v, err := viewRequesters(resp)
	if err != nil {
		c.log.Error("the coordinator's roster does not verify", "err", err)
		return &httpError{http.StatusInternalServerError, "The coordinator's roster does not verify: " + err.Error() + ". Check it on your own machine with mpcctl roster verify."}
	}
	c.render(w, q, http.StatusOK, "requesters.html", "Requesters", "requesters", v)
	return nil
}

// viewRequesters verifies the roster in resp (all its entries) and lists
// its requesters.
func viewRequesters(resp *mpcv1.GetRosterResponse) (requestersView, error) {
	rv, st, err := verifyRoster(resp)
	if err != nil {
		return requestersView{}, err
	}
	v := requestersView{
		Exists:       rv.Exists,
		CreateCmd:    "mpcctl requesters create NAME --keys KEY_ID[,KEY_ID...] [--paths m/44/60/0/0] [--max-per-hour N]",
		CreateKMSCmd: "mpcctl requesters create NAME --keys '*' --public-key KEY.pem",
		GrantCmd:     "mpcctl requesters grant NAME [--keys KEY_ID,...|'*'] [--paths P,...] [--max-per-hour N]",
		RevokeCmd:    "mpcctl requesters revoke NAME [--reason TEXT]",
		ListCmd:      "mpcctl requesters list",
		SignCmd:      "mpcctl sign --key KEY_ID --digest HEX --requester-key NAME.requester.json",
	}
	if st == nil {
		return v, nil
	}
	v.Height = st.Height()
	// A revocation that waits for signatures is signed, not made again.
	revoking := map[string]string{}
	for _, p := range resp.GetPending() {
		e := roster.EntryFromProto(p)
		b, err := roster.DecodeBody(e.Body)
		if err != nil || (b.Kind != roster.KindAddRequester && b.Kind != roster.KindRevokeRequester) {
			continue
		}
		pv := viewPending(e, st)
		v.Pending = append(v.Pending, pv)
		if b.Kind == roster.KindRevokeRequester && pv.Err == "" {
			keepFirst(revoking, b.RequesterID, pv.ID)
		}
	}
	slices.SortFunc(v.Pending, func(a, b pendingView) int { return strings.Compare(a.ID, b.ID) })
	for _, r := range st.Requesters() {
		rv := requesterView{
			ID: r.ID, ShortID: rostertext.ShortID(r.ID), Name: r.Name, Algorithm: r.Algorithm,
			Fingerprint: keyfile.Fingerprint(r.PublicKey),
			AllKeys:     slices.Equal(r.Keys, []string{roster.AllKeysGrant}),
			Keys:        r.Keys, Paths: r.Paths, MaxPerHour: r.MaxPerHour,
			Active: r.Active, AddedAt: r.AddedAt, RevokedAt: r.RevokedAt,
		}
		if r.Active {
			v.Active++
			if id, ok := revoking[r.ID]; ok {
				rv.SignCmd = signCommand(id)
			} else {
				rv.RevokeCmd = requesterRevokeCommand(r.Name)
			}
		} else {
			v.Revoked++
		}
		v.List = append(v.List, rv)
	}
	return v, nil
}

// requesterRevokeCommand revokes the active requester of that name
// (mpcctl takes a name for the active one first).
func requesterRevokeCommand(name string) string {
	return "mpcctl requesters revoke " + shellWord(name)
}

// grantsText is a requester's grants in one line, as mpcctl says them.
func grantsText(r roster.Requester) string {
	s := "keys " + strings.Join(r.Keys, ", ")
	if slices.Equal(r.Keys, []string{roster.AllKeysGrant}) {
		s = "all keys"
	}
	if len(r.Paths) > 0 {
		s += "; paths " + strings.Join(r.Paths, ", ")
	} else {
		s += "; any path"
	}
	if r.MaxPerHour > 0 {
		s += fmt.Sprintf("; at most %d signatures per device per hour", r.MaxPerHour)
	} else {
		s += "; no cap"
	}
	return s
}
