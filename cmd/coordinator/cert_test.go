package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/internal/tlspin"
)

func TestCertCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, _, err := tlspin.LoadOrCreate(dir, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	oldFP := tlspin.Fingerprint(first.Certificate[0])
	now := time.Date(2030, 6, 1, 10, 0, 0, 0, time.UTC)
	run := func(args ...string) (certView, string, error) {
		t.Helper()
		cmd := newCertCmd(func() time.Time { return now })
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append(args, "--data", dir))
		err := cmd.Execute()
		var v certView
		if err == nil && strings.Contains(strings.Join(args, " "), "--json") {
			if jerr := json.Unmarshal(out.Bytes(), &v); jerr != nil {
				t.Fatalf("%v: %v\n%s", args, jerr, out.String())
			}
		}
		return v, out.String(), err
	}

	if v, _, err := run("show", "--json"); err != nil || v.Fingerprint != oldFP || v.NextFingerprint != "" {
		t.Fatalf("show before a rotation: %+v %v", v, err)
	}
	if _, _, err := run("rotate", "--grace", "30s"); err == nil || !strings.Contains(err.Error(), "--grace 30s is shorter than 1m0s") {
		t.Fatalf("a too short grace period: %v", err)
	}
	v, _, err := run("rotate", "--grace", "48h", "--json")
	if err != nil || v.Fingerprint != oldFP || v.NextFingerprint == "" || !v.SwitchAt.Equal(now.Add(48*time.Hour)) {
		t.Fatalf("rotate: %+v %v", v, err)
	}
	next := v.NextFingerprint
	_, out, err := run("show")
	if err != nil || !strings.Contains(out, "current certificate fingerprint: "+oldFP) || !strings.Contains(out, "next certificate fingerprint:    "+next) ||
		!strings.Contains(out, "2030-06-03T10:00:00Z (in 48h0m0s)") {
		t.Fatalf("show during the grace period: %v\n%s", err, out)
	}
	if _, _, err := run("rotate"); err == nil || !strings.Contains(err.Error(), "already pending: next certificate "+next) || !strings.Contains(err.Error(), "--replace") {
		t.Fatalf("a second rotation: %v", err)
	}
	v, _, err = run("rotate", "--replace", "--grace", "72h", "--json")
	if err != nil || v.NextFingerprint == next || v.NextFingerprint == "" {
		t.Fatalf("rotate --replace: %+v %v", v, err)
	}
	next = v.NextFingerprint

	// After the switch-over, show reports the new certificate as current.
	now = now.Add(72 * time.Hour)
	if v, _, err := run("show", "--json"); err != nil || v.Fingerprint != next || v.NextFingerprint != "" {
		t.Fatalf("show after the switch-over: %+v %v", v, err)
	}
	// And a new rotation is allowed (the previous one is finished on disk first).
	if v, _, err := run("rotate", "--json"); err != nil || v.Fingerprint != next || v.NextFingerprint == "" {
		t.Fatalf("rotate after a switch-over: %+v %v", v, err)
	}

	if _, _, err := newCertShowOn(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no coordinator certificate in") {
		t.Fatalf("show on an empty directory: %v", err)
	}
}

func newCertShowOn(dir string) (string, string, error) {
	cmd := newCertCmd(time.Now)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"show", "--data", dir})
	err := cmd.Execute()
	return out.String(), "", err
}
