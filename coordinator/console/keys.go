package console

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// keyView is a key as the Keys page shows it: public data only.
type keyView struct {
	ID, Curve, PublicKey       string
	Ethereum, Bitcoin, Ed25519 string
	Threshold                  uint32
	Signers, Holders           int
	Committee                  []string
	Epoch                      uint64
	CreatedAt                  time.Time
	DerivationOnly             bool
	// Last is the last committed reshare of any kind (a drill too);
	// LastDrill the last drill, whatever its outcome, which a later reshare
	// does not replace.
	Last, LastDrill *reportView
	Drill           *drillRun // a drill started here, running or finished
	// DrillCmd is the mpcctl command that drills it, with a roster (which
	// makes a drill need an operator's signature).
	DrillCmd string
}

type reportView struct {
	Kind                       string
	Started                    time.Time
	OK, Committed              bool
	Error                      string
	FromEpoch, ToEpoch         uint64
	OldCommittee, NewCommittee string
	OldThreshold, NewThreshold uint32
	Steps                      []stepView
}

type stepView struct {
	Name, Detail string
	OK           bool
	Took         time.Duration
}

func curveName(c mpcv1.Curve) string {
	return strings.ToLower(strings.TrimPrefix(c.String(), "CURVE_"))
}

func viewKey(k *mpcv1.Key) keyView {
	v := keyView{ID: k.GetId(), Curve: curveName(k.GetCurve()), PublicKey: hex.EncodeToString(k.GetPublicKey()),
		Threshold: k.GetThreshold(), Signers: int(k.GetThreshold()) + 1, Holders: len(k.GetHolders()), Epoch: k.GetEpoch(),
		DerivationOnly: k.GetDerivationOnly()}
	if a := k.GetAddresses(); a != nil {
		v.Ethereum, v.Bitcoin, v.Ed25519 = a.GetEthereum(), a.GetBitcoinP2Wpkh(), a.GetEd25519PublicKey()
	}
	if k.GetCreatedAt() != nil {
		v.CreatedAt = k.GetCreatedAt().AsTime()
	}
	for _, h := range k.GetHolders() {
		v.Committee = append(v.Committee, h.GetDeviceName())
	}
	v.Last, v.LastDrill = viewReport(k.GetLastReshare()), viewReport(k.GetLastDrill())
	return v
}

func viewReport(r *mpcv1.ReshareReport) *reportView {
	if r == nil {
		return nil
	}
	rv := &reportView{Kind: r.GetKind(), OK: r.GetOk(), Committed: r.GetCommitted(), Error: r.GetError(), FromEpoch: r.GetFromEpoch(), ToEpoch: r.GetToEpoch(),
		OldCommittee: strings.Join(r.GetOldCommittee(), ", "), NewCommittee: strings.Join(r.GetNewCommittee(), ", "),
		OldThreshold: r.GetOldThreshold(), NewThreshold: r.GetNewThreshold()}
	if r.GetStartedAt() != nil {
		rv.Started = r.GetStartedAt().AsTime()
	}
	for _, s := range r.GetSteps() {
		rv.Steps = append(rv.Steps, stepView{Name: s.GetName(), Detail: s.GetDetail(), OK: s.GetOk(), Took: time.Duration(s.GetDurationMs()) * time.Millisecond})
	}
	return rv
}

func (c *Console) keysPage(w http.ResponseWriter, r *http.Request, q *request) error {
	all, err := c.listKeys(q)
	if err != nil {
		return err
	}
	rs, err := c.rosterState(q)
	if err != nil {
		return err
	}
	var keys []keyView
	for _, k := range all {
		v := viewKey(k)
		if rs.exists {
			v.DrillCmd = drillCommand(v.ID)
		}
		if d, ok := c.drills.get(k.GetId()); ok {
			// A drill that got as far as a report has it kept with the key,
			// shown as the last drill: its error needs no second line.
			if !d.Running && v.LastDrill != nil && !v.LastDrill.Started.Before(d.Started) {
				d.Err = ""
			}
			v.Drill = &d
		}
		keys = append(keys, v)
	}
	c.render(w, q, http.StatusOK, "keys.html", "Keys", "keys", map[string]any{"Keys": keys, "Roster": rs.exists})
	return nil
}

// drillKey starts a drill in the background: it takes as long as a reshare
// and a test signature, longer than a page should wait. The Keys page shows
// it running and then its report.
func (c *Console) drillKey(w http.ResponseWriter, r *http.Request, q *request) error {
	id := r.PostFormValue("key")
	if id == "" || len(id) > 64 {
		return badRequest("no key given")
	}
	// With a roster the coordinator refuses a drill without an operator's
	// signature: say so now rather than after a background run.
	if rs, err := c.rosterState(q); err != nil {
		return err
	} else if rs.exists {
		return c.back(w, r, q, "/keys#"+id, "error", "This coordinator has a roster: a drill needs an operator's signature. On your own machine, run: "+drillCommand(id))
	}
	if !c.drills.start(id) {
		return c.back(w, r, q, "/keys", "error", "A drill of "+id+" is already running.")
	}
	// The drill outlives this request; it stays audited under its token.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(q.ctx), 30*time.Minute)
	go func() {
		defer cancel()
		resp, err := c.coord.DrillKey(ctx, &mpcv1.DrillKeyRequest{KeyId: id})
		msg := ""
		switch {
		case err != nil:
			msg = c.adminError("DrillKey", err).Error()
		case !resp.GetReport().GetOk():
			msg = resp.GetReport().GetError()
		}
		c.drills.finish(id, msg)
		c.log.Info("drill finished", "key", id, "ok", msg == "", "token", q.sess.token.ID)
	}()
	return c.back(w, r, q, "/keys#"+id, "ok", fmt.Sprintf("Drill of %s started: the key is reshared to its own devices, then signs a test digest.", id))
}

func (c *Console) drillStatus(w http.ResponseWriter, r *http.Request, q *request) error {
	d, _ := c.drills.get(r.URL.Query().Get("key"))
	writeJSON(w, http.StatusOK, map[string]any{"running": d.Running, "error": d.Err})
	return nil
}

// drillRun is a drill started from the console.
type drillRun struct {
	Running  bool
	Started  time.Time
	Finished time.Time
	Err      string // why it failed, when it did
}

type drills struct {
	mu    sync.Mutex
	now   func() time.Time
	byKey map[string]drillRun
}

func newDrills(now func() time.Time) *drills { return &drills{now: now, byKey: map[string]drillRun{}} }

// start records a drill of key unless one is running.
func (d *drills) start(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byKey[key].Running {
		return false
	}
	d.byKey[key] = drillRun{Running: true, Started: d.now()}
	return true
}

func (d *drills) finish(key, errText string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.byKey[key]
	r.Running, r.Finished, r.Err = false, d.now(), errText
	d.byKey[key] = r
}

func (d *drills) get(key string) (drillRun, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.byKey[key]
	return r, ok
}
