package console

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// deviceView is a device as the pages show it.
type deviceView struct {
	Name, ID, Status string
	Online           bool
	PairedAt         time.Time
	LastSeen         time.Time
	Keys             []string
	SAS              string // only while pending
	Preparams        string
	OnRoster         bool
	// With a roster, the mpcctl command an operator runs: ApproveCmd
	// approves it (pending), AddCmd puts it on the roster (approved before
	// the roster existed), SignCmd signs the entry that adds or revokes it,
	// waiting for more operators (SignWhat says which).
	ApproveCmd, AddCmd string
	SignCmd, SignWhat  string
}

// withRoster fills in the commands of the device's row once the coordinator
// has a roster.
func (v *deviceView) withRoster(rs rosterState) {
	switch {
	case rs.adding[v.ID] != "" && v.Status == "pending":
		v.SignCmd, v.SignWhat = signCommand(rs.adding[v.ID]), "approval"
	case rs.revoking[v.ID] != "" && v.Status != "revoked":
		v.SignCmd, v.SignWhat = signCommand(rs.revoking[v.ID]), "revocation"
	case v.Status == "pending":
		v.ApproveCmd = approveCommand(v.Name)
	case v.Status == "active" && !v.OnRoster:
		v.AddCmd = addDeviceCommand(v.Name)
	}
}

func deviceStatus(s mpcv1.DeviceStatus) string {
	switch s {
	case mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE:
		return "active"
	case mpcv1.DeviceStatus_DEVICE_STATUS_PENDING:
		return "pending"
	case mpcv1.DeviceStatus_DEVICE_STATUS_REVOKED:
		return "revoked"
	}
	return "unknown"
}

func viewDevice(d *mpcv1.Device) deviceView {
	v := deviceView{Name: d.GetName(), ID: d.GetId(), Status: deviceStatus(d.GetStatus()), Online: d.GetOnline(),
		Keys: d.GetKeyIds(), SAS: d.GetSas(), OnRoster: d.GetOnRoster()}
	if d.GetPairedAt() != nil {
		v.PairedAt = d.GetPairedAt().AsTime()
	}
	if d.GetLastSeen() != nil {
		v.LastSeen = d.GetLastSeen().AsTime()
	}
	if d.GetOnline() {
		v.Preparams = fmt.Sprintf("%d/%d", d.GetPreparamsReady(), d.GetPreparamsTarget())
	}
	return v
}

func (c *Console) devicesPage(w http.ResponseWriter, r *http.Request, q *request) error {
	devs, err := c.listDevices(q)
	if err != nil {
		return err
	}
	rs, err := c.rosterState(q)
	if err != nil {
		return err
	}
	var views []deviceView
	for _, d := range devs {
		v := viewDevice(d)
		if rs.exists {
			v.withRoster(rs)
		}
		views = append(views, v)
	}
	// Devices in use first, revoked ones last.
	slices.SortStableFunc(views, func(a, b deviceView) int {
		return boolInt(a.Status == "revoked") - boolInt(b.Status == "revoked")
	})
	c.render(w, q, http.StatusOK, "devices.html", "Devices", "devices", map[string]any{"Devices": views, "Roster": rs.exists})
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// pairDevice makes a pairing code and shows it once, as text and as a QR
// code, then waits (in the page's script) for the device to enrol and shows
// its short authentication string.
func (c *Console) pairDevice(w http.ResponseWriter, r *http.Request, q *request) error {
	name := strings.TrimSpace(r.PostFormValue("name"))
	resp, err := c.coord.CreatePairingCode(q.ctx, &mpcv1.CreatePairingCodeRequest{Name: name})
	if err != nil {
		return c.back(w, r, q, "/devices", "error", "Could not pair "+name+": "+c.adminError("CreatePairingCode", err).Error())
	}
	svg, err := qrSVG(resp.GetCode())
	if err != nil {
		return err
	}
	rs, err := c.rosterState(q)
	if err != nil {
		return err
	}
	approve := ""
	if rs.exists {
		approve = approveCommand(resp.GetName())
	}
	c.render(w, q, http.StatusOK, "pair.html", "Pair "+resp.GetName(), "devices", map[string]any{
		"Name": resp.GetName(), "Code": resp.GetCode(), "QR": template.HTML(svg), // safe: qrSVG writes only numbers into fixed markup
		"Expires": resp.GetExpiresAt().AsTime(), "ApproveCmd": approve,
	})
	return nil
}

// pairingStatus tells the pairing page whether the device has enrolled.
func (c *Console) pairingStatus(w http.ResponseWriter, r *http.Request, q *request) error {
	name := r.URL.Query().Get("name")
	devs, err := c.listDevices(q)
	if err != nil {
		return err
	}
	out := map[string]any{"status": "waiting"}
	for _, d := range devs {
		if d.GetName() == name && d.GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_REVOKED {
			out = map[string]any{"status": deviceStatus(d.GetStatus()), "sas": d.GetSas(), "online": d.GetOnline()}
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// approveDevice activates a pending device; the operator types the short
// authentication string the device shows, and it must match.
func (c *Console) approveDevice(w http.ResponseWriter, r *http.Request, q *request) error {
	name := r.PostFormValue("device")
	resp, err := c.coord.ApproveDevice(q.ctx, &mpcv1.ApproveDeviceRequest{Device: name, Sas: r.PostFormValue("sas")})
	if err != nil {
		return c.back(w, r, q, "/devices", "error", "Not approved: "+c.adminError("ApproveDevice", err).Error())
	}
	return c.back(w, r, q, "/devices", "ok", resp.GetDevice().GetName()+" is approved.")
}

// keyPlan is a key a revocation will reshare, as the confirmation shows it.
type keyPlan struct {
	ID            string
	Holders       []string
	Remaining     []string
	Threshold     uint32
	CannotReshare bool
}

func (c *Console) revokePage(w http.ResponseWriter, r *http.Request, q *request) error {
	name := r.URL.Query().Get("device")
	devs, err := c.listDevices(q)
	if err != nil {
		return err
	}
	var dev *mpcv1.Device
	var others []string
	for _, d := range devs {
		switch {
		case d.GetName() == name && d.GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_REVOKED:
			dev = d
		case d.GetStatus() == mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE:
			others = append(others, d.GetName())
		}
	}
	if dev == nil {
		return &httpError{http.StatusNotFound, fmt.Sprintf("There is no device %q to revoke.", name)}
	}
	keys, err := c.listKeys(q)
	if err != nil {
		return err
	}
	var plans []keyPlan
	for _, k := range keys {
		var holders, remaining []string
		held := false
		for _, h := range k.GetHolders() {
			holders = append(holders, h.GetDeviceName())
			if h.GetDeviceId() == dev.GetId() {
				held = true
			} else {
				remaining = append(remaining, h.GetDeviceName())
			}
		}
		if held {
			plans = append(plans, keyPlan{ID: k.GetId(), Holders: holders, Remaining: remaining, Threshold: k.GetThreshold(),
				CannotReshare: len(remaining) < int(k.GetThreshold())+1})
		}
	}
	data := map[string]any{"Device": viewDevice(dev), "Keys": plans, "Replacements": others}
	rs, err := c.rosterState(q)
	if err != nil {
		return err
	}
	if rs.exists {
		data["Roster"] = revokeCommands(dev, plans, others, rs.revoking[dev.GetId()])
	}
	c.render(w, q, http.StatusOK, "revoke.html", "Revoke "+name, "devices", data)
	return nil
}

// rosterRevoke is what the revoke page shows in place of its form when the
// coordinator has a roster: the mpcctl commands that sign the revocation.
type rosterRevoke struct {
	Pending bool   // a pending device is not on the roster: nothing to revoke
	SignCmd string // a revocation waits for more operators: sign it
	AddCmd  string // it must be put on the roster first
	Cmd     string
	Replace []string // the same with each possible replacement
}

// revokeCommands: waiting is the id of a revocation of dev that waits for
// more operator signatures ("" if none does).
func revokeCommands(dev *mpcv1.Device, plans []keyPlan, others []string, waiting string) rosterRevoke {
	name := dev.GetName()
	switch {
	case dev.GetStatus() == mpcv1.DeviceStatus_DEVICE_STATUS_PENDING:
		return rosterRevoke{Pending: true}
	case waiting != "":
		return rosterRevoke{SignCmd: signCommand(waiting)}
	}
	rv := rosterRevoke{Cmd: revokeCommand(name, "")}
	if !dev.GetOnRoster() {
		rv.AddCmd = addDeviceCommand(name)
	}
	if len(plans) > 0 {
		for _, o := range others {
			rv.Replace = append(rv.Replace, revokeCommand(name, o))
		}
	}
	return rv
}

func (c *Console) revokeDevice(w http.ResponseWriter, r *http.Request, q *request) error {
	name := r.PostFormValue("device")
	resp, err := c.coord.RevokeDevice(q.ctx, &mpcv1.RevokeDeviceRequest{Device: name, ReplaceWith: r.PostFormValue("replace_with")})
	if err != nil {
		return c.back(w, r, q, "/devices", "error", "Not revoked: "+c.adminError("RevokeDevice", err).Error())
	}
	var keys []string
	for _, j := range resp.GetJobs() {
		keys = append(keys, j.GetKeyId())
	}
	msg := fmt.Sprintf("%s is revoked: it can no longer connect or sign.", name)
	if len(keys) > 0 {
		msg += fmt.Sprintf(" Resharing the %d key(s) it held to the remaining devices.", len(keys))
	}
	return c.back(w, r, q, "/reshares?device="+url.QueryEscape(name)+"&keys="+url.QueryEscape(strings.Join(keys, ",")), "ok", msg)
}

// jobView is a background reshare as the pages show it.
type jobView struct {
	KeyID        string `json:"key_id"`
	State        string `json:"state"`
	Reason       string `json:"reason"`
	Detail       string `json:"detail"`
	Attempts     uint32 `json:"attempts"`
	NewCommittee string `json:"new_committee"`
	Epoch        uint64 `json:"epoch"`
}

func jobState(s mpcv1.ReshareJobState) string {
	switch s {
	case mpcv1.ReshareJobState_RESHARE_JOB_STATE_PENDING:
		return "pending"
	case mpcv1.ReshareJobState_RESHARE_JOB_STATE_RUNNING:
		return "running"
	case mpcv1.ReshareJobState_RESHARE_JOB_STATE_DONE:
		return "done"
	case mpcv1.ReshareJobState_RESHARE_JOB_STATE_BLOCKED:
		return "blocked"
	}
	return "unknown"
}

// jobs lists the reshare jobs of the keys asked for (all when none is).
func (c *Console) jobs(r *http.Request, q *request) ([]jobView, bool, error) {
	var want []string // nil: every job
	if r.URL.Query().Has("keys") {
		want = strings.Split(r.URL.Query().Get("keys"), ",")
		if len(want) > 1000 {
			return nil, false, badRequest("too many keys")
		}
	}
	resp, err := c.coord.ListReshareJobs(q.ctx, &mpcv1.ListReshareJobsRequest{})
	if err != nil {
		return nil, false, c.adminError("ListReshareJobs", err)
	}
	var out []jobView
	finished := true
	for _, j := range resp.GetJobs() {
		if want != nil && !slices.Contains(want, j.GetKeyId()) {
			continue
		}
		v := jobView{KeyID: j.GetKeyId(), State: jobState(j.GetState()), Reason: j.GetReason(), Detail: j.GetDetail(),
			Attempts: j.GetAttempts(), NewCommittee: strings.Join(j.GetNewCommittee(), ", "), Epoch: j.GetEpoch()}
		if v.State != "done" && v.State != "blocked" {
			finished = false
		}
		out = append(out, v)
	}
	return out, finished, nil
}

func (c *Console) resharesPage(w http.ResponseWriter, r *http.Request, q *request) error {
	jobs, finished, err := c.jobs(r, q)
	if err != nil {
		return err
	}
	c.render(w, q, http.StatusOK, "reshares.html", "Reshares", "devices", map[string]any{
		"Device": r.URL.Query().Get("device"), "Keys": r.URL.Query().Get("keys"), "Jobs": jobs, "Finished": finished,
	})
	return nil
}

func (c *Console) reshareStatus(w http.ResponseWriter, r *http.Request, q *request) error {
	jobs, finished, err := c.jobs(r, q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": jobs, "finished": finished})
	return nil
}
