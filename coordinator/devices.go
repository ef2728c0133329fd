package coordinator

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/pairing"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

const maxPairingTTL = time.Hour

// CreatePairingCode makes a one-time pairing code for a new device.
func (s *Server) CreatePairingCode(ctx context.Context, req *mpcv1.CreatePairingCodeRequest) (*mpcv1.CreatePairingCodeResponse, error) {
	if !validName.MatchString(req.GetName()) {
		return nil, invalidArg("device name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	ttl := s.opts.PairingTTL
	if req.GetTtlSeconds() > 0 {
		ttl = time.Duration(req.GetTtlSeconds()) * time.Second
	}
	if ttl > maxPairingTTL {
		return nil, invalidArg("ttl_seconds is at most %d", int(maxPairingTTL.Seconds()))
	}
	if err := s.nameFree(req.GetName()); err != nil {
		return nil, err
	}
	if pending, err := s.pendingPairing(req.GetName()); err != nil {
		return nil, err
	} else if pending {
		return nil, &clientError{codes.AlreadyExists, fmt.Sprintf("a pairing code for %q is still pending; use it or wait until it expires", req.GetName())}
	}
	var code pairing.Code
	if _, err := rand.Read(code.ID[:]); err != nil {
		return nil, err
	}
	operatorMade := len(req.GetAuthKey()) > 0
	if operatorMade && len(req.GetAuthKey()) != sha256.Size {
		return nil, invalidArg("auth_key must be 32 bytes")
	}
	if !operatorMade {
		if _, err := rand.Read(code.Secret[:]); err != nil {
			return nil, err
		}
	}
	fp, err := hex.DecodeString(s.Fingerprint())
	if err != nil || len(fp) != sha256.Size {
		return nil, errors.New("bad own fingerprint")
	}
	copy(code.Fingerprint[:], fp)
	code.Genesis = s.rosterGenesis() // the device pins it
	code.Address = s.pairingAddress(ctx)
	expires := s.opts.Now().Add(ttl)
	e := s.auditEntry(ctx, auditlog.Entry{Action: "pairing.create", Devices: []string{req.GetName()}, Detail: "expires " + expires.UTC().Format(time.RFC3339)})
	rec := Pairing{Name: req.GetName(), SecretHash: pairing.SecretHash(code.Secret[:]), ExpiresAt: expires}
	if operatorMade {
		rec.SecretHash, rec.AuthKey = nil, req.GetAuthKey()
		e.Detail += ", made by the operator's mpcctl"
	}
	if err := s.store.CreatePairing(code.ID[:], rec, &e); err != nil {
		return nil, err
	}
	s.metrics.audited(e.Seq)
	s.log.Info("pairing code created", "device", req.GetName(), "expires", expires.Format(time.RFC3339))
	resp := &mpcv1.CreatePairingCodeResponse{Name: req.GetName(), ExpiresAt: timestamppb.New(expires), PairingId: code.ID[:], Address: code.Address}
	if !operatorMade {
		resp.Code = code.String()
	}
	return resp, nil
}

// pendingPairing reports whether an unused, unexpired code holds name.
func (s *Server) pendingPairing(name string) (bool, error) {
	ps, err := s.store.ListPairings()
	if err != nil {
		return false, err
	}
	now := s.opts.Now()
	for _, p := range ps {
		if p.Name == name && !p.Used && now.Before(p.ExpiresAt) {
			return true, nil
		}
	}
	return false, nil
}

// ListDevices lists the enrolled devices, a page at a time, in id order.
// Each device's key_ids come from the store's index of its keys: a page
// reads its devices' keys only.
func (s *Server) ListDevices(ctx context.Context, req *mpcv1.ListDevicesRequest) (*mpcv1.ListDevicesResponse, error) {
	size, err := pageSize(req.GetPageSize(), 0, defaultPageSize, maxPageSize)
	if err != nil {
		return nil, err
	}
	tok, err := parsePageToken(req.GetPageToken(), listDevices)
	if err != nil {
		return nil, err
	}
	devs, err := s.store.ListDevicesAfter(string(tok.After), size+1)
	if err != nil {
		return nil, err
	}
	out := &mpcv1.ListDevicesResponse{}
	if len(devs) > size {
		devs = devs[:size]
		if out.NextPageToken, err = (pageToken{List: listDevices, After: []byte(devs[size-1].ID)}).encode(); err != nil {
			return nil, err
		}
	}
	for _, d := range devs {
		p, err := s.deviceProto(d)
		if err != nil {
			return nil, err
		}
		out.Devices = append(out.Devices, p)
	}
	return out, nil
}

// deviceProto is d as the API shows it, with the keys it holds and its
// restored shares waiting for approval.
func (s *Server) deviceProto(d Device) (*mpcv1.Device, error) {
	keys, err := s.store.ListKeysOfDevice(d.ID)
	if err != nil {
		return nil, err
	}
	p := &mpcv1.Device{
		Id:                  d.ID,
		Name:                d.Name,
		Status:              mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE,
		PairedAt:            timestamppb.New(d.PairedAt),
		IdentityPublicKey:   d.IdentityPublicKey,
		EncryptionPublicKey: d.EncryptionPublicKey,
		OnRoster:            s.onRoster(d.ID),
	}
	switch d.Status {
	case DeviceRevoked:
		p.Status = mpcv1.DeviceStatus_DEVICE_STATUS_REVOKED
	case DevicePending:
		p.Status = mpcv1.DeviceStatus_DEVICE_STATUS_PENDING
		p.Sas = d.SAS // shown while the operator still has to compare it
	}
	if !d.LastSeen.IsZero() {
		p.LastSeen = timestamppb.New(d.LastSeen)
	}
	if l := s.links.Get(d.ID); l != nil {
		p.Online = true
		p.PreparamsReady, p.PreparamsTarget = l.Preparams()
	}
	for _, k := range keys {
		for _, h := range k.Holders {
			if h == d.ID {
				p.KeyIds = append(p.KeyIds, k.ID)
			}
		}
		for _, r := range k.PendingRestores {
			if r.Device == d.ID {
				orig := r.Original
				if o, err := s.store.GetDevice(r.Original); err == nil {
					orig = o.Name
				}
				p.PendingRestores = append(p.PendingRestores, &mpcv1.PendingRestore{KeyId: k.ID, Epoch: r.Epoch, OriginalDevice: orig})
			}
		}
	}
	return p, nil
}

// resolveDevice finds a device by id or name.
func (s *Server) resolveDevice(ref string) (Device, error) {
	if ref == "" {
		return Device{}, invalidArg("empty device name")
	}
	if d, err := s.store.GetDevice(ref); err == nil {
		return d, nil
	}
	devs, err := s.store.ListDevices()
	if err != nil {
		return Device{}, err
	}
	var found *Device
	for i, d := range devs {
		if d.Name == ref {
			if found == nil || found.Status == DeviceRevoked {
				found = &devs[i]
			}
		}
	}
	if found == nil {
		return Device{}, &clientError{code: codes.NotFound, msg: fmt.Sprintf("unknown device %q", ref)}
	}
	return *found, nil
}

// RevokeDevice refuses a device from now on (connections and signing), then
// queues a background reshare of every key it held to the remaining devices
// (plus replace_with, if given), keeping the threshold.
func (s *Server) RevokeDevice(ctx context.Context, req *mpcv1.RevokeDeviceRequest) (*mpcv1.RevokeDeviceResponse, error) {
	d, err := s.resolveDevice(req.GetDevice())
	if err != nil {
		return nil, err
	}
	var repl *Device
	if req.GetReplaceWith() != "" {
		r, err := s.resolveDevice(req.GetReplaceWith())
		if err != nil {
			return nil, err
		}
		if r.ID == d.ID {
			return nil, invalidArg("a device cannot replace itself")
		}
		if r.Status != DeviceActive {
			return nil, failedPrecondition("replacement device %q is %s", r.Name, r.Status)
		}
		repl = &r
	}
	replName := ""
	if repl != nil {
		replName = repl.ID
	}
	if s.hasRoster() {
		return s.revokeOnRoster(ctx, d, replName, req)
	}
	entry := auditlog.Entry{Action: "device.revoke", Devices: []string{d.Name}}
	if repl != nil {
		entry.Detail = "replace with " + repl.Name
	}
	entry = s.auditEntry(ctx, entry)
	// The replacement is kept with the device: a coordinator that stops
	// before the jobs below are queued queues them at its start
	// (resumeRevocations).
	d, err = s.store.UpdateDevice(d.ID, func(d *Device) error {
		d.Status, d.ReplaceWith = DeviceRevoked, cmp.Or(replName, d.ReplaceWith) // a retry may leave replace_with out
		return nil
	}, &entry)
	if err != nil {
		return nil, err
	}
	s.metrics.audited(entry.Seq)
	jobs, err := s.revoked(ctx, d, d.ReplaceWith, nil)
	if err != nil {
		return nil, s.jobsNotQueued(d, err)
	}
	dp, err := s.deviceProto(d)
	if err != nil {
		return nil, err
	}
	resp := &mpcv1.RevokeDeviceResponse{Device: dp}
	for _, j := range jobs {
		resp.Jobs = append(resp.Jobs, s.jobProto(j))
	}
	return resp, nil
}

// revokeOnRoster revokes d on a coordinator with a roster: the revocation
// is the operators' signed roster entry, which the coordinator only carries
// out once it is appended.
func (s *Server) revokeOnRoster(ctx context.Context, d Device, replName string, req *mpcv1.RevokeDeviceRequest) (*mpcv1.RevokeDeviceResponse, error) {
	re := req.GetRosterEntry()
	if re == nil {
		return nil, failedPrecondition("this coordinator has a roster: a revocation is an operator-signed roster entry; run: mpcctl devices revoke %s", d.Name)
	}
	e := roster.EntryFromProto(re)
	body, err := roster.DecodeBody(e.Body)
	if err != nil {
		return nil, invalidArg("roster entry: %v", err)
	}
	if body.Kind != roster.KindRevokeDevice || body.DeviceID != d.ID {
		return nil, invalidArg("the roster entry does not revoke device %q", d.Name)
	}
	plans := map[string]*AuthRecord{}
	for _, p := range req.GetPlans() {
		c, err := roster.DecodeCeremony(p.GetBody())
		if err != nil {
			return nil, invalidArg("reshare plan: %v", err)
		}
		if c.Kind != roster.CeremonyReshare || c.KeyID == "" {
			return nil, invalidArg("a revocation's plan must be a reshare of one key")
		}
		plans[c.KeyID] = authRecord(p)
	}
	sub, err := s.submitRoster(ctx, e, replName, plans)
	if err != nil {
		return nil, err
	}
	if d2, err := s.store.GetDevice(d.ID); err == nil {
		d = d2
	}
	dp, err := s.deviceProto(d)
	if err != nil {
		return nil, err
	}
	resp := &mpcv1.RevokeDeviceResponse{Device: dp, Roster: sub}
	for _, j := range s.jobsFor(d.ID) {
		resp.Jobs = append(resp.Jobs, s.jobProto(j))
	}
	return resp, nil
}

// jobsFor returns the reshare jobs that remove a device.
func (s *Server) jobsFor(deviceID string) []ReshareJob {
	jobs, err := s.store.ListReshareJobs()
	if err != nil {
		return nil
	}
	var out []ReshareJob
	for _, j := range jobs {
		if slices.Contains(j.Remove, deviceID) {
			out = append(out, j)
		}
	}
	return out
}

// revoked carries out a revocation that is recorded: the device is
// disconnected and every key it holds, or may hold once the reshare in
// flight commits, gets a background reshare job to the remaining holders
// (plus replaceWith, a device id, if set). It is idempotent: run again (a
// resubmitted revocation, the sweep of resumeRevocations) it queues the
// jobs that are missing and leaves the others as they are, but for a newer
// plan of the operators.
func (s *Server) revoked(ctx context.Context, d Device, replaceWith string, plans map[string]*AuthRecord) ([]ReshareJob, error) {
	s.links.Kick(d.ID, ErrDeviceRevoked)
	s.log.Info("device revoked", "device", d.Name)
	keys, err := s.store.ListKeysOfDevice(d.ID)
	if err != nil {
		return nil, err
	}
	return s.queueRevocationJobs(d, replaceWith, plans, keys)
}

// holdsOrMayHold reports whether device id holds k, or is one of the new
// holders of the reshare in flight (which may commit after the device was
// revoked: the commit checks the new holders before its transaction).
func holdsOrMayHold(k Key, id string) bool {
	return slices.Contains(k.Holders, id) || k.InFlight != nil && slices.Contains(k.InFlight.Holders, id)
}

// queueRevocationJobs queues, for each key of keys that revoked device d
// holds or may hold, the reshare job that removes it.
func (s *Server) queueRevocationJobs(d Device, replaceWith string, plans map[string]*AuthRecord, keys []Key) ([]ReshareJob, error) {
	var repl *Device
	if replaceWith != "" {
		if r, err := s.store.GetDevice(replaceWith); err == nil && r.Status == DeviceActive {
			repl = &r
		}
	}
	var jobs []ReshareJob
	for _, k := range keys {
		if !holdsOrMayHold(k, d.ID) {
			continue
		}
		job, err := s.store.UpdateReshareJob(k.ID, func(j *ReshareJob) error {
			if j.State == JobDone || j.State == "" {
				*j = ReshareJob{KeyID: k.ID}
			}
			// A blocked job keeps the devices it removes: another revoked
			// device it could not remove yet must not be forgotten.
			if j.State != JobRunning { // a running attempt records its own outcome
				j.State, j.Detail, j.WaitDevice, j.NextTry = JobPending, "queued", true, time.Time{}
			}
			if why := "revoked " + d.Name; !slices.Contains(strings.Split(j.Reason, "; "), why) {
				j.Reason = strings.TrimPrefix(j.Reason+"; "+why, "; ")
			}
			if !slices.Contains(j.Remove, d.ID) {
				j.Remove = append(j.Remove, d.ID)
			}
			if repl != nil && !slices.Contains(j.Add, repl.ID) {
				j.Add = append(j.Add, repl.ID)
			}
			j.Add = slices.DeleteFunc(j.Add, func(id string) bool { return id == d.ID })
			if p := plans[k.ID]; p != nil {
				j.Plan = p // a later revocation's plan supersedes an earlier one
			}
			j.UpdatedAt = s.opts.Now()
			return nil
		})
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, job)
	}
	s.jobs.wake()
	return jobs, nil
}

// ApproveDevice activates a pending device whose short authentication
// string the operator compared with the one the device shows.
func (s *Server) ApproveDevice(ctx context.Context, req *mpcv1.ApproveDeviceRequest) (*mpcv1.ApproveDeviceResponse, error) {
	d, err := s.resolveDevice(req.GetDevice())
	if err != nil {
		return nil, err
	}
	if req.GetRestoreKeyId() != "" {
		return s.approveRestore(ctx, d, req.GetRestoreKeyId())
	}
	if s.hasRoster() {
		return nil, failedPrecondition("this coordinator has a roster: approving device %q is an operator's signature on its roster entry; run: mpcctl devices approve %s --sas ...", d.Name, d.Name)
	}
	want := strings.ReplaceAll(strings.TrimSpace(req.GetSas()), " ", "-")
	approved := s.auditEntry(ctx, auditlog.Entry{Action: "device.approve", Devices: []string{d.Name}})
	d, err = s.store.UpdateDevice(d.ID, func(d *Device) error {
		switch {
		case d.Status == DeviceActive:
			return nil // approving twice changes nothing
		case d.Status != DevicePending:
			return failedPrecondition("device %q is %s and cannot be approved", d.Name, d.Status)
		case subtle.ConstantTimeCompare([]byte(want), []byte(d.SAS)) != 1:
			return ErrSASMismatch
		}
		d.Status = DeviceActive
		return nil
	}, &approved)
	if err != nil {
		return nil, err
	}
	s.metrics.audited(approved.Seq)
	s.log.Info("device approved", "device", d.Name, "id", d.ID)
	dp, err := s.deviceProto(d)
	if err != nil {
		return nil, err
	}
	return &mpcv1.ApproveDeviceResponse{Device: dp}, nil
}

// waitReady waits until every device is online with at least one
// pre-parameter set (when preparams), or ctx ends; the error names the
// devices not ready.
func (s *Server) waitReady(ctx context.Context, devs []Device, preparams bool) error {
	// Give up a little before the caller's deadline, so that the caller gets
	// the list of devices still preparing rather than a bare deadline error.
	if dl, ok := ctx.Deadline(); ok {
		margin := min(2*time.Second, time.Until(dl)/5)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-margin))
		defer cancel()
	}
	for {
		changed := s.links.Wait()
		var offline, preparing []string
		for _, d := range devs {
			l := s.links.Get(d.ID)
			if l == nil {
				offline = append(offline, d.Name)
				continue
			}
			if ready, target := l.Preparams(); ready == 0 && preparams {
				preparing = append(preparing, fmt.Sprintf("%s (%d/%d ready)", d.Name, ready, target))
			}
		}
		if len(offline) > 0 {
			return failedPrecondition("devices offline: %s", strings.Join(offline, ", "))
		}
		if len(preparing) == 0 {
			return nil
		}
		s.log.Info("waiting for devices to prepare pre-parameters", "devices", preparing)
		select {
		case <-ctx.Done():
			return unavailable("devices still preparing pre-parameters: %s; try again when they are ready", strings.Join(preparing, ", "))
		case <-changed:
		}
	}
}
