// Package adminview is how the operator's CLI (mpcctl) and the demo
// (mpcdemo) show the admin API's keys and reshare jobs, and the progress of
// the calls that wait for devices, with the same words.
package adminview

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// ShowPreparing prints, while CreateKey waits, which devices are still
// making pre-parameters. The returned function stops it.
func ShowPreparing(ctx context.Context, c mpcv1.AdminServiceClient, devices []string, w io.Writer) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	want, ready := map[string]bool{}, map[string]bool{}
	for _, d := range devices {
		want[d] = true
	}
	go func() {
		defer close(done)
		t := time.NewTicker(3 * time.Second)
		defer t.Stop()
		last := ""
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			devs, err := Devices(ctx, c)
			if err != nil {
				continue
			}
			var waiting []string
			for _, d := range devs {
				if d.GetPreparamsReady() > 0 {
					// Ready once is ready: the keygen itself takes the set again.
					ready[d.GetName()] = true
				}
				if (want[d.GetName()] || want[d.GetId()]) && d.GetOnline() && !ready[d.GetName()] {
					waiting = append(waiting, fmt.Sprintf("%s (%d/%d)", d.GetName(), d.GetPreparamsReady(), d.GetPreparamsTarget()))
				}
			}
			if line := strings.Join(waiting, ", "); line != "" && line != last && ctx.Err() == nil {
				fmt.Fprintf(w, "waiting for devices to prepare pre-parameters: %s\n", line)
				last = line
			}
		}
	}()
	return func() { cancel(); <-done }
}

// HolderNames are the names of a key's holders.
func HolderNames(k *mpcv1.Key) []string {
	var out []string
	for _, h := range k.GetHolders() {
		out = append(out, h.GetDeviceName())
	}
	return out
}

// JobState is a reshare job's state in lower case: "done", "blocked", ...
func JobState(s mpcv1.ReshareJobState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "RESHARE_JOB_STATE_"))
}

// JobLine is one line of a reshare job's progress.
func JobLine(j *mpcv1.ReshareJob) string {
	return fmt.Sprintf("%s  %-8s %s", j.GetKeyId(), JobState(j.GetState()), j.GetDetail())
}

// FollowJobs prints each job's progress as it changes until every job is
// done or blocked, or ctx ends. It reports whether all finished.
func FollowJobs(ctx context.Context, c mpcv1.AdminServiceClient, w io.Writer, keys []string) (done bool, jobs []*mpcv1.ReshareJob, err error) {
	last := map[string]string{}
	for {
		resp, err := c.ListReshareJobs(ctx, &mpcv1.ListReshareJobsRequest{})
		if err != nil {
			return false, jobs, err
		}
		jobs = jobs[:0]
		finished := 0
		for _, j := range resp.GetJobs() {
			want := false
			for _, k := range keys {
				want = want || k == j.GetKeyId()
			}
			if !want {
				continue
			}
			jobs = append(jobs, j)
			if line := JobLine(j); line != last[j.GetKeyId()] {
				last[j.GetKeyId()] = line
				if w != nil {
					fmt.Fprintln(w, "  "+line)
				}
			}
			switch j.GetState() {
			case mpcv1.ReshareJobState_RESHARE_JOB_STATE_DONE, mpcv1.ReshareJobState_RESHARE_JOB_STATE_BLOCKED:
				finished++
			}
		}
		if finished == len(keys) {
			return true, jobs, nil
		}
		select {
		case <-ctx.Done():
			return false, jobs, nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}
