package console

import (
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// sessionView is a protocol session as the Sessions page shows it.
type sessionView struct {
	ID, Kind, KeyID, Devices string
	Started                  time.Time
	Took                     time.Duration
	Running, OK              bool
	Reason                   string
	Culprits                 []string
	// Blame is what the blame rests on, in words (blameWords).
	Blame string
}

// blameWords says what a session's blame rests on (SessionInfo.blame).
func blameWords(b string) string {
	switch b {
	case "proven":
		return "proven culprit (evidence checked)"
	case "accuser-lied":
		return "accuser lied (its evidence cleared the accused)"
	case "suspected":
		return "suspected, not proven"
	}
	return b
}

// sessionsShown is how many finished sessions one Sessions page shows; a
// link leads to the older ones.
const sessionsShown = 200

// sessionsPage shows the running sessions and the newest finished ones;
// ?page=TOKEN (the "Older sessions" link) shows the finished ones that
// follow.
func (c *Console) sessionsPage(w http.ResponseWriter, r *http.Request, q *request) error {
	token := r.URL.Query().Get("page")
	resp, err := c.coord.ListSessions(q.ctx, &mpcv1.ListSessionsRequest{PageSize: sessionsShown, PageToken: token})
	if err != nil && token != "" && c.coord.PublicError("ListSessions", err).Code() == codes.InvalidArgument {
		return &httpError{http.StatusBadRequest, "That link to older sessions is not valid (malformed, or from another page): start again from the newest sessions, at /sessions."}
	}
	if err != nil {
		return c.adminError("ListSessions", err)
	}
	var running, recent []sessionView
	now := c.opts.Now()
	for _, s := range resp.GetSessions() {
		v := sessionView{ID: s.GetId(), Kind: s.GetKind(), KeyID: s.GetKeyId(), Devices: strings.Join(s.GetDevices(), ", "),
			Started: s.GetStartedAt().AsTime(), Running: s.GetRunning(), OK: s.GetOk(), Reason: s.GetReason(), Culprits: s.GetCulprits(), Blame: blameWords(s.GetBlame())}
		if v.Running {
			v.Took = now.Sub(v.Started)
			running = append(running, v)
			continue
		}
		v.Took = s.GetFinishedAt().AsTime().Sub(v.Started)
		recent = append(recent, v)
	}
	c.render(w, q, http.StatusOK, "sessions.html", "Sessions", "sessions", map[string]any{
		"Running": running, "Recent": recent, "First": token == "", "Older": resp.GetNextPageToken()})
	return nil
}
