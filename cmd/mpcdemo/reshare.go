package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mpcsign/mpcsign/internal/adminview"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// replaceServer pairs a tablet, then revokes the lost server with the
// operator's signed entry and her signed plan to reshare the key to phone,
// laptop and tablet, and follows the reshare.
func (d *demo) replaceServer(ctx context.Context) error {
	d.step("pairing a new device to replace the server")
	if err := d.pair(ctx, 3, "tablet"); err != nil {
		return err
	}
	if err := waitOnline(ctx, d.admin, []string{"tablet"}); err != nil {
		return err
	}
	d.step("revoking the server: its key is reshared to phone, laptop and tablet (same public key)")
	var serverID string
	if list, err := d.admin.ListDevices(ctx, &mpcv1.ListDevicesRequest{}); err == nil {
		for _, dv := range list.GetDevices() {
			if dv.GetName() == "server" {
				serverID = dv.GetId()
			}
		}
	}
	revoke, err := d.op.revoke(ctx, serverID, "lost")
	if err != nil {
		return err
	}
	stay, err := d.op.idsOf(ctx, "phone", "laptop")
	if err != nil {
		return err
	}
	next, err := d.op.idsOf(ctx, "phone", "laptop", "tablet")
	if err != nil {
		return err
	}
	key := d.key
	plan, err := d.op.ceremony(ctx, roster.CeremonyReshare, 7*24*time.Hour, func(c *roster.Ceremony) {
		c.KeyID, c.Curve, c.Epoch, c.Threshold, c.Committee = key.GetId(), roster.CurveSecp256k1, key.GetEpoch(), 1, stay
		c.NewThreshold, c.NewCommittee, c.Reason = 1, next, "revoke server"
	})
	if err != nil {
		return err
	}
	rv, err := d.admin.RevokeDevice(ctx, &mpcv1.RevokeDeviceRequest{Device: "server", ReplaceWith: "tablet", RosterEntry: roster.EntryProto(revoke), Plans: []*mpcv1.Authorization{plan}})
	if err != nil {
		return err
	}
	d.step("  the revocation is %s's signed roster entry, with her signed plan for the key (phone, laptop -> phone, laptop, tablet); every device verifies both", d.op.key.Name())
	return d.awaitReshare(ctx, rv.GetJobs())
}

// awaitReshare follows the revocation's reshare jobs until they finish and
// checks the key kept its public key.
func (d *demo) awaitReshare(ctx context.Context, jobs []*mpcv1.ReshareJob) error {
	var keys []string
	for _, j := range jobs {
		keys = append(keys, j.GetKeyId())
	}
	t0 := time.Now()
	finished, jobs, err := adminview.FollowJobs(ctx, d.admin, d.out, keys)
	if err != nil {
		return err
	}
	if !finished || len(jobs) != 1 || jobs[0].GetState() != mpcv1.ReshareJobState_RESHARE_JOB_STATE_DONE {
		return fmt.Errorf("the reshare after the revocation did not finish: %v", jobs)
	}
	got, err := d.admin.GetKey(ctx, &mpcv1.GetKeyRequest{KeyId: d.key.GetId()})
	if err != nil {
		return err
	}
	if !bytes.Equal(got.GetKey().GetPublicKey(), d.key.GetPublicKey()) {
		return errors.New("the public key changed in the reshare")
	}
	key := got.GetKey()
	d.key = key
	d.step("reshared in %s: key %s is now at epoch %d, held by %s; public key unchanged",
		time.Since(t0).Round(time.Second), key.GetId(), key.GetEpoch(), strings.Join(adminview.HolderNames(key), ", "))
	if r := key.GetLastReshare(); r != nil && len(r.GetTestSignature()) > 0 {
		d.step("  the new holders attested their pending shares, which signed a test digest before the commit; the old holders erased only on that certificate (%s)", strings.Join(r.GetNewCommittee(), ", "))
	}
	return nil
}
