package coordinator

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/mpcsign/mpcsign/coordinator/relay"
	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/backup"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// A device that restored another device's share from a paper-key backup
// claims it on every connection. The coordinator refuses a share of a
// retired epoch at once; otherwise the claim waits for an operator
// (ApproveDevice with restore_key_id), who binds the share to the new device
// in place of the original one.

// restoreClaim answers one claim on the device's link.
func (s *Server) restoreClaim(l *relay.Link, c *mpcv1.RestoreClaim) {
	answer := func(state mpcv1.RestoreState, reason string) {
		l.Send(&mpcv1.ConnectResponse{Msg: &mpcv1.ConnectResponse_RestoreAnswer{RestoreAnswer: &mpcv1.RestoreAnswer{
			KeyId: c.GetKeyId(), Epoch: c.GetEpoch(), State: state, Reason: reason}}})
	}
	refuse := func(format string, a ...any) {
		reason := fmt.Sprintf(format, a...)
		s.log.Warn("refused a restored share", "device", l.Name(), "key", c.GetKeyId(), "epoch", c.GetEpoch(), "reason", reason)
		// The operator sees it in the audit log; the device deletes its copy.
		e := auditlog.Entry{Action: "key.restore.claim", KeyID: clip(c.GetKeyId()), Devices: []string{l.Name()}, Result: "failed", Detail: reason}
		if err := s.audit(withSystemActor(context.Background(), "device "+l.Name()), e); err != nil {
			return // no answer without its entry; the device asks again on its next connection
		}
		answer(mpcv1.RestoreState_RESTORE_STATE_REFUSED, reason)
	}
	if len(c.GetKeyId()) > 64 {
		return
	}
	k, err := s.getKey(c.GetKeyId())
	if err != nil {
		refuse("unknown key %s", clip(c.GetKeyId()))
		return
	}
	if slices.Contains(k.Holders, l.DeviceID()) {
		if k.Epoch == c.GetEpoch() && bytes.Equal(k.PartyKeyIdentity[l.DeviceID()], c.GetOriginalIdentityPublicKey()) {
			answer(mpcv1.RestoreState_RESTORE_STATE_BOUND, "")
			return
		}
		refuse("this device already holds key %s", k.ID)
		return
	}
	h := backup.Header{KeyID: k.ID, Epoch: c.GetEpoch()}
	if err := h.Check(backup.Expect{KeyID: k.ID, Epoch: k.Epoch}); err != nil {
		refuse("%v", err)
		return
	}
	orig, err := s.store.GetDevice(c.GetOriginalDeviceId())
	want := k.PartyKeyIdentity[orig.ID]
	if want == nil {
		want = orig.IdentityPublicKey
	}
	if err != nil || !bytes.Equal(want, c.GetOriginalIdentityPublicKey()) {
		refuse("the backup was made on a device this coordinator does not know")
		return
	}
	if !slices.Contains(k.Holders, orig.ID) {
		refuse("device %s no longer holds key %s", orig.Name, k.ID)
		return
	}
	e := auditlog.Entry{Action: "key.restore.claim", KeyID: k.ID, Devices: []string{l.Name(), orig.Name},
		Detail: fmt.Sprintf("device %s restored the epoch %d share of %s from a backup; waiting for approval", l.Name(), c.GetEpoch(), orig.Name)}
	already := false
	_, err = s.updateKeyAudited(withSystemActor(context.Background(), "device "+l.Name()), k.ID, func(k *Key) error {
		for _, r := range k.PendingRestores {
			if r.Device == l.DeviceID() && r.Original == orig.ID && r.Epoch == c.GetEpoch() {
				already = true
				return nil
			}
		}
		k.PendingRestores = slices.DeleteFunc(k.PendingRestores, func(r RestoreBinding) bool { return r.Device == l.DeviceID() })
		k.PendingRestores = append(k.PendingRestores, RestoreBinding{Device: l.DeviceID(), Original: orig.ID, OriginalPub: want, Epoch: c.GetEpoch(), At: s.opts.Now()})
		return nil
	}, &e)
	if err != nil {
		s.log.Warn("could not record a restored share", "device", l.Name(), "err", err)
		return
	}
	if !already {
		s.log.Info("a device restored a share from a backup; waiting for approval", "device", l.Name(), "key", k.ID, "original", orig.Name)
	}
	answer(mpcv1.RestoreState_RESTORE_STATE_PENDING, "")
}

// approveRestore binds a restored share to its new device: the device takes
// the original's place among the key's holders (with the original's party
// key until the next reshare, which a drill does at once).
func (s *Server) approveRestore(ctx context.Context, d Device, keyID string) (*mpcv1.ApproveDeviceResponse, error) {
	if d.Status != DeviceActive {
		return nil, failedPrecondition("device %q is %s; approve it first", d.Name, d.Status)
	}
	k, err := s.getKey(keyID)
	if err != nil {
		return nil, err
	}
	var b *RestoreBinding
	for i, r := range k.PendingRestores {
		if r.Device == d.ID {
			b = &k.PendingRestores[i]
		}
	}
	if b == nil {
		return nil, failedPrecondition("device %q has no restored share of key %s waiting for approval (run 'party backup restore' on it, then 'party run' so it reports the share)", d.Name, k.ID)
	}
	origName := b.Original
	if o, err := s.store.GetDevice(b.Original); err == nil {
		origName = o.Name
	}
	e := auditlog.Entry{Action: "key.restore", KeyID: k.ID, Devices: []string{d.Name, origName},
		Detail: fmt.Sprintf("share of epoch %d restored from %s's backup bound to %s", b.Epoch, origName, d.Name)}
	s.syncMu.Lock()
	k, err = s.updateKeyAudited(ctx, k.ID, func(k *Key) error {
		var bind *RestoreBinding
		for i, r := range k.PendingRestores {
			if r.Device == d.ID {
				bind = &k.PendingRestores[i]
			}
		}
		switch {
		case bind == nil:
			return failedPrecondition("the restore was withdrawn meanwhile")
		case bind.Epoch != k.Epoch:
			return failedPrecondition("the restored share is of epoch %d but the key is at epoch %d: it was retired by a reshare", bind.Epoch, k.Epoch)
		case !slices.Contains(k.Holders, bind.Original):
			return failedPrecondition("the device the backup was made on no longer holds the key")
		case slices.Contains(k.Holders, d.ID):
			return failedPrecondition("device %q already holds the key", d.Name)
		}
		i := slices.Index(k.Holders, bind.Original)
		k.Holders[i] = d.ID
		if k.PartyKeyIdentity == nil {
			k.PartyKeyIdentity = map[string][]byte{}
		}
		k.PartyKeyIdentity[d.ID] = bind.OriginalPub
		delete(k.PartyKeyIdentity, bind.Original)
		if !slices.Contains(k.PastHolders, bind.Original) {
			k.PastHolders = append(k.PastHolders, bind.Original)
		}
		orig := bind.Original
		k.PendingRestores = slices.DeleteFunc(k.PendingRestores, func(r RestoreBinding) bool { return r.Device == d.ID || r.Original == orig })
		return nil
	}, &e)
	if err == nil {
		if l := s.links.Get(d.ID); l != nil {
			l.Send(&mpcv1.ConnectResponse{Msg: &mpcv1.ConnectResponse_RestoreAnswer{RestoreAnswer: &mpcv1.RestoreAnswer{
				KeyId: k.ID, Epoch: k.Epoch, State: mpcv1.RestoreState_RESTORE_STATE_BOUND}}})
		}
	}
	s.syncMu.Unlock()
	if err != nil {
		return nil, err
	}
	s.log.Info("restored share bound", "key", k.ID, "device", d.Name, "in place of", origName)
	dp, err := s.deviceProto(d)
	if err != nil {
		return nil, err
	}
	return &mpcv1.ApproveDeviceResponse{Device: dp}, nil
}
