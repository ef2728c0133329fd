package coordinator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mpcsign/mpcsign/internal/auditlog"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

func TestAuditLog(t *testing.T) {
	c := testkit.New(t, testkit.Options{})
	ctx := context.Background()
	c.AddDevice(t, "a", testkit.FixtureSets(t, 1)[:1])
	c.AddDevice(t, "b", testkit.FixtureSets(t, 2)[:1])
	key := c.CreateKey(t, 1, "a", "b")
	for _, m := range []string{"one", "two"} {
		if _, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest(m), RequestId: "r-" + m}); err != nil {
			t.Fatal(err)
		}
	}
	c.StopDevice(t, "b")
	if _, err := c.Admin.RevokeDevice(ctx, &mpcv1.RevokeDeviceRequest{Device: "b"}); err != nil {
		t.Fatal(err)
	}

	resp, err := c.Admin.ExportAudit(ctx, &mpcv1.ExportAuditRequest{SinceSeq: 1})
	if err != nil {
		t.Fatal(err)
	}
	var export bytes.Buffer
	var actions []string
	for _, line := range resp.GetEntries() {
		export.Write(append(line, '\n'))
		var e auditlog.Entry
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatal(err)
		}
		actions = append(actions, e.Action)
		switch e.Action {
		case "sign":
			if e.KeyID != key.GetId() || len(e.Devices) != 2 || !strings.HasPrefix(e.Actor, "token:") {
				t.Fatalf("sign entry %+v", e)
			}
		case "device.enroll":
			if !strings.HasPrefix(e.Actor, "device:") {
				t.Fatalf("enrol entry %+v", e)
			}
		}
	}
	want := "pairing.create device.enroll device.approve pairing.create device.enroll device.approve key.create sign sign device.revoke"
	if got := strings.Join(actions, " "); got != want || resp.GetHeight() != uint64(len(actions)) {
		t.Fatalf("audit actions\n got %s (height %d)\nwant %s", got, resp.GetHeight(), want)
	}
	n, _, err := auditlog.Verify(bytes.NewReader(export.Bytes()))
	if err != nil || n != len(actions) {
		t.Fatalf("the exported log does not verify: %d %v", n, err)
	}

	// Editing one entry is caught at that entry.
	lines := strings.Split(strings.TrimSpace(export.String()), "\n")
	lines[7] = strings.Replace(lines[7], `"result":"ok"`, `"result":"failed"`, 1)
	_, _, err = auditlog.Verify(strings.NewReader(strings.Join(lines, "\n")))
	var broken *auditlog.BrokenError
	if !errors.As(err, &broken) || broken.Line != 8 {
		t.Fatalf("an edited entry 8 must break the chain there, got %v", err)
	}

	// Paging: an export from seq 8 holds the rest and verifies on its own.
	tail, err := c.Admin.ExportAudit(ctx, &mpcv1.ExportAuditRequest{SinceSeq: 8, Limit: 2})
	if err != nil || len(tail.GetEntries()) != 2 {
		t.Fatalf("paged export: %v %v", tail, err)
	}
}
